"""JSON API of message templates, channel configuration, tone terms and the sandbox."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field

from adimple.kit.money import money_str
from adimple.messaging import render, templates, tone
from adimple.messaging.channels import config as channel_config
from adimple.messaging.channels.models import ProviderKind
from adimple.messaging.channels.sandbox import list_sandbox_messages
from adimple.messaging.templates import NAME_PATTERN, TemplateSpec
from adimple.portfolio.models import Channel
from adimple.web.deps import CurrentActor, CurrentTenant, DbSession

router = APIRouter(tags=["messaging"])

TemplateName = Annotated[str, Path(pattern=NAME_PATTERN, min_length=2, max_length=64)]


class TemplateRead(BaseModel):
    """A template in use; ``source`` says whether it is the shipped default or the tenant's."""

    name: str
    channel: Channel
    version: int
    source: str
    subject: str | None
    body: str
    html: str | None
    whatsapp_template_name: str | None
    whatsapp_language: str | None
    whatsapp_params: list[str]
    created_by: str | None
    created_at: datetime | None


class TemplateWrite(BaseModel):
    """A new version. ``body`` is Jinja2 (for WhatsApp: the approved text with {{1}}…)."""

    subject: str | None = Field(default=None, max_length=300)
    body: str = Field(min_length=1, max_length=20_000)
    html: str | None = Field(default=None, max_length=100_000)
    whatsapp_template_name: str | None = Field(
        default=None, max_length=100, pattern=r"^[a-z0-9_]+$"
    )
    whatsapp_language: str | None = Field(default=None, pattern=r"^[a-z]{2}(_[A-Z]{2})?$")
    whatsapp_params: list[Annotated[str, Field(min_length=1, max_length=300)]] = Field(
        default_factory=list, max_length=30
    )


class SmsRead(BaseModel):
    encoding: str
    units: int
    segments: int
    characters: int
    text_sent: str


class PreviewRead(BaseModel):
    channel: Channel
    subject: str | None
    text: str
    html: str | None
    template_params: list[str]
    whatsapp_template_name: str | None
    sms: SmsRead | None
    total: str
    pending_update: bool


class ChannelRead(BaseModel):
    """A channel's configuration; secret values are never returned, only their names."""

    channel: Channel
    provider: ProviderKind
    source: str
    settings: dict[str, Any]
    secrets_set: list[str]


class ChannelWrite(BaseModel):
    provider: ProviderKind
    settings: dict[str, Any] = Field(default_factory=dict)
    secrets: dict[str, Annotated[str, Field(max_length=2000)]] | None = Field(
        default=None,
        description="Write-only. Omit to keep the stored secrets; an empty string removes one.",
    )


class ToneTermsRead(BaseModel):
    default_terms: list[str]
    tenant_terms: list[str]


class ToneTermsWrite(BaseModel):
    terms: list[Annotated[str, Field(min_length=2, max_length=80)]] = Field(max_length=500)


def _read(spec: TemplateSpec) -> TemplateRead:
    return TemplateRead(
        name=spec.name,
        channel=spec.channel,
        version=spec.version,
        source=spec.source,
        subject=spec.subject,
        body=spec.body,
        html=spec.html,
        whatsapp_template_name=spec.whatsapp_template_name,
        whatsapp_language=spec.whatsapp_language,
        whatsapp_params=list(spec.whatsapp_params),
        created_by=spec.created_by,
        created_at=spec.created_at,
    )


@router.get("/templates", response_model=list[TemplateRead])
def list_templates(session: DbSession, tenant: CurrentTenant) -> list[TemplateRead]:
    """Modelos em uso (do credor, ou os padrões fornecidos)."""
    return [_read(s) for s in templates.list_templates(session, tenant_id=tenant.id)]


@router.get("/templates/{name}/{channel}", response_model=TemplateRead)
def get_template(
    name: TemplateName, channel: Channel, session: DbSession, tenant: CurrentTenant
) -> TemplateRead:
    return _read(templates.get_template(session, tenant_id=tenant.id, name=name, channel=channel))


@router.get("/templates/{name}/{channel}/versions", response_model=list[TemplateRead])
def list_template_versions(
    name: TemplateName, channel: Channel, session: DbSession, tenant: CurrentTenant
) -> list[TemplateRead]:
    """Versões gravadas pelo credor, da mais nova para a mais antiga."""
    return [
        _read(s)
        for s in templates.template_versions(
            session, tenant_id=tenant.id, name=name, channel=channel
        )
    ]


@router.put("/templates/{name}/{channel}", response_model=TemplateRead)
def put_template(
    name: TemplateName,
    channel: Channel,
    body: TemplateWrite,
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
) -> TemplateRead:
    """Grava uma nova versão; 422 com o campo e a linha quando o tom, a sintaxe ou um elemento
    obrigatório (identificação do credor, valor, link do portal, descadastro) falha."""
    spec = templates.save_template(
        session,
        tenant_id=tenant.id,
        name=name,
        channel=channel,
        data=body.model_dump(),
        actor=actor,
    )
    return _read(spec)


@router.post("/templates/{name}/{channel}/preview", response_model=PreviewRead)
def preview_template(
    name: TemplateName,
    channel: Channel,
    customer_id: uuid.UUID,
    session: DbSession,
    tenant: CurrentTenant,
) -> PreviewRead:
    """Pré-visualização com os dados reais de um devedor (nada é enviado nem gravado)."""
    rendered = render.preview(
        session, tenant_id=tenant.id, template_name=name, channel=channel, customer_id=customer_id
    )
    sms = None
    if rendered.sms is not None and rendered.sms_text is not None:
        sms = SmsRead(
            encoding=rendered.sms.encoding.value,
            units=rendered.sms.units,
            segments=rendered.sms.segments,
            characters=rendered.sms.characters,
            text_sent=rendered.sms_text,
        )
    return PreviewRead(
        channel=rendered.channel,
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        template_params=rendered.template_params,
        whatsapp_template_name=rendered.whatsapp_template_name,
        sms=sms,
        total=money_str(rendered.total),
        pending_update=rendered.pending_update,
    )


def _channel_read(view: channel_config.ChannelView) -> ChannelRead:
    return ChannelRead(
        channel=view.channel,
        provider=view.provider,
        source=view.source,
        settings=view.settings,
        secrets_set=view.secrets_set,
    )


@router.get("/channels/{channel}", response_model=ChannelRead)
def get_channel(channel: Channel, session: DbSession, tenant: CurrentTenant) -> ChannelRead:
    """Configuração do canal (sem os valores dos segredos)."""
    return _channel_read(channel_config.get_channel(session, tenant_id=tenant.id, channel=channel))


@router.put("/channels/{channel}", response_model=ChannelRead)
def put_channel(
    channel: Channel,
    body: ChannelWrite,
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
) -> ChannelRead:
    """Define o provedor do canal; os segredos são só de escrita."""
    view = channel_config.save_channel(
        session,
        tenant_id=tenant.id,
        channel=channel,
        provider=body.provider,
        settings=body.settings,
        secrets=body.secrets,
        actor=actor,
    )
    return _channel_read(view)


@router.get("/messaging/tone-terms", response_model=ToneTermsRead)
def get_tone_terms(session: DbSession, tenant: CurrentTenant) -> ToneTermsRead:
    """Termos proibidos: a lista mantida (CDC art. 42 e 71) e os acrescentados pelo credor."""
    return ToneTermsRead(
        default_terms=list(tone.default_terms()),
        tenant_terms=tone.tenant_terms(session, tenant_id=tenant.id),
    )


@router.put("/messaging/tone-terms", response_model=ToneTermsRead)
def put_tone_terms(
    body: ToneTermsWrite, session: DbSession, tenant: CurrentTenant, actor: CurrentActor
) -> ToneTermsRead:
    """Substitui os termos próprios do credor (a lista mantida sempre vale)."""
    terms = tone.set_tenant_terms(session, tenant_id=tenant.id, terms=body.terms, actor=actor)
    return ToneTermsRead(default_terms=list(tone.default_terms()), tenant_terms=terms)


@router.get("/sandbox/messages", response_model=list[dict[str, Any]])
def sandbox_messages(
    tenant: CurrentTenant, limit: Annotated[int, Query(ge=1, le=200)] = 50
) -> list[dict[str, Any]]:
    """Mensagens guardadas pelo canal sandbox (demo e desenvolvimento), mais novas primeiro."""
    return list_sandbox_messages(tenant.slug, limit=limit)
