"""Message templates: the shipped defaults, a tenant's versions, and saving with the checks.

Shipped defaults are files, ``messaging/templates/<name>.<channel>.yaml`` (keys ``subject``,
``body``, ``html``, and for WhatsApp ``whatsapp: {name, language, params}``). A tenant's saved
versions live in :class:`MessageTemplate`; the newest active one wins, then an
installation-wide row (``tenant_id`` NULL), then the file. Saving refuses (422, naming the
field and line) a template that does not compile, that uses a forbidden term (CDC art. 42 and
71, :mod:`adimple.messaging.tone`) or whose output would lack any element every collection
message must carry (creditor identification, amount, portal link, opt-out): it is rendered
against a sample customer with the tenant's real identification before it is stored.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml
from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from adimple.audit import service as audit
from adimple.db.base import utcnow
from adimple.kit.errors import FieldError, NotFound, ValidationFailed
from adimple.messaging.template_models import MessageTemplate
from adimple.messaging.tone import check_tone, tenant_terms
from adimple.portfolio.models import Channel

TEMPLATE_NAMES = (
    "lembrete_vencimento",
    "aviso_atraso",
    "lembrete_atraso",
    "proposta_acordo",
    "carta_cobranca",
    "aviso_negativacao",
)
MESSAGE_CHANNELS = (Channel.EMAIL, Channel.SMS, Channel.WHATSAPP, Channel.LETTER)
NAME_PATTERN = r"^[a-z][a-z0-9_]{1,63}$"
_NAME = re.compile(NAME_PATTERN)
WHATSAPP_PLACEHOLDER = re.compile(r"\{\{\s*(\d+)\s*\}\}")


@dataclass(frozen=True)
class TemplateSpec:
    """One template version as used for rendering (from a file or from the database)."""

    name: str
    channel: Channel
    body: str
    subject: str | None = None
    html: str | None = None
    whatsapp_template_name: str | None = None
    whatsapp_language: str | None = None
    whatsapp_params: tuple[str, ...] = ()
    version: int = 0  # 0 = the shipped default file
    source: str = "default"  # default | installation | tenant
    created_by: str | None = None
    created_at: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)


def _spec_from_data(name: str, channel: Channel, data: dict[str, Any]) -> TemplateSpec:
    whatsapp = data.get("whatsapp") or {}
    return TemplateSpec(
        name=name,
        channel=channel,
        subject=data.get("subject"),
        body=str(data.get("body") or ""),
        html=data.get("html"),
        whatsapp_template_name=whatsapp.get("name"),
        whatsapp_language=whatsapp.get("language"),
        whatsapp_params=tuple(str(p) for p in whatsapp.get("params") or ()),
    )


@lru_cache(maxsize=1)
def shipped_templates() -> dict[tuple[str, Channel], TemplateSpec]:
    """Every ``<name>.<channel>.yaml`` shipped with the package."""
    folder = resources.files("adimple.messaging").joinpath("templates")
    found: dict[tuple[str, Channel], TemplateSpec] = {}
    for entry in folder.iterdir():
        parts = entry.name.split(".")
        if len(parts) != 3 or parts[2] != "yaml":
            continue
        name, channel = parts[0], Channel(parts[1])
        data = yaml.safe_load(entry.read_text(encoding="utf-8")) or {}
        found[(name, channel)] = _spec_from_data(name, channel, data)
    return found


def _spec_from_row(row: MessageTemplate) -> TemplateSpec:
    return TemplateSpec(
        name=row.name,
        channel=Channel(row.channel),
        subject=row.subject,
        body=row.body,
        html=row.html,
        whatsapp_template_name=row.whatsapp_template_name,
        whatsapp_language=row.whatsapp_language,
        whatsapp_params=tuple(row.whatsapp_params or ()),
        version=row.version,
        source="tenant" if row.tenant_id is not None else "installation",
        created_by=row.created_by,
        created_at=row.created_at,
    )


def _active_row(
    session: Session, *, tenant_id: uuid.UUID | None, name: str, channel: Channel
) -> MessageTemplate | None:
    owner = (
        MessageTemplate.tenant_id.is_(None)
        if tenant_id is None
        else MessageTemplate.tenant_id == tenant_id
    )
    return session.scalars(
        select(MessageTemplate)
        .where(
            owner,
            MessageTemplate.name == name,
            MessageTemplate.channel == channel,
            MessageTemplate.active.is_(True),
        )
        .order_by(MessageTemplate.version.desc())
        .limit(1)
    ).first()


def find_template(
    session: Session, *, tenant_id: uuid.UUID, name: str, channel: Channel | str
) -> TemplateSpec | None:
    channel = Channel(channel)
    for owner in (tenant_id, None):
        row = _active_row(session, tenant_id=owner, name=name, channel=channel)
        if row is not None:
            return _spec_from_row(row)
    return shipped_templates().get((name, channel))


def get_template(
    session: Session, *, tenant_id: uuid.UUID, name: str, channel: Channel | str
) -> TemplateSpec:
    """The template in use for ``name`` on ``channel``; :class:`NotFound` if there is none."""
    spec = find_template(session, tenant_id=tenant_id, name=name, channel=channel)
    if spec is None:
        raise NotFound(f"modelo '{name}' para o canal '{Channel(channel).value}' não existe")
    return spec


def list_templates(session: Session, *, tenant_id: uuid.UUID) -> list[TemplateSpec]:
    """Every template in use for the tenant (its own, else the installation's, else shipped)."""
    keys = set(shipped_templates())
    rows = session.execute(
        select(MessageTemplate.name, MessageTemplate.channel)
        .where(
            or_(MessageTemplate.tenant_id == tenant_id, MessageTemplate.tenant_id.is_(None)),
            MessageTemplate.active.is_(True),
        )
        .distinct()
    )
    keys.update((name, Channel(channel)) for name, channel in rows)
    specs = [
        find_template(session, tenant_id=tenant_id, name=name, channel=channel)
        for name, channel in sorted(keys)
    ]
    return [s for s in specs if s is not None]


def template_versions(
    session: Session, *, tenant_id: uuid.UUID, name: str, channel: Channel | str
) -> list[TemplateSpec]:
    """The tenant's saved versions, newest first (the history kept for the record)."""
    rows = session.scalars(
        select(MessageTemplate)
        .where(
            MessageTemplate.tenant_id == tenant_id,
            MessageTemplate.name == name,
            MessageTemplate.channel == Channel(channel),
        )
        .order_by(MessageTemplate.version.desc())
    )
    return [_spec_from_row(r) for r in rows]


# --- validation ------------------------------------------------------------------------------


def validate_template(
    session: Session | None, *, tenant_id: uuid.UUID | None, spec: TemplateSpec, tenant: Any
) -> list[FieldError]:
    """Every reason to refuse ``spec``: syntax, tone, WhatsApp shape, missing legal elements."""
    from adimple.messaging import render

    errors: list[FieldError] = []
    if not _NAME.match(spec.name):
        errors.append(FieldError("name", "use 2-64 letras minúsculas, dígitos ou '_'"))
    if spec.channel not in MESSAGE_CHANNELS:
        errors.append(FieldError("channel", "canal sem modelos de mensagem (telefone usa roteiro)"))
    extra = tenant_terms(session, tenant_id=tenant_id) if session and tenant_id else []
    parts: list[tuple[str, str | None]] = [
        ("subject", spec.subject),
        ("body", spec.body),
        ("html", spec.html),
    ]
    parts += [(f"whatsapp_params[{i}]", p) for i, p in enumerate(spec.whatsapp_params)]
    for field_name, text in parts:
        if not text:
            continue
        if "\x00" in text:  # PostgreSQL text cannot hold NUL; no template needs one
            errors.append(FieldError(field_name, "caractere NUL não é permitido"))
            continue
        errors.extend(
            FieldError(v.field, f"termo proibido '{v.term}' (CDC art. 42/71): {v.excerpt}", v.line)
            for v in check_tone(text, extra_terms=extra, field=field_name)
        )
        syntax = render.syntax_error(text, expression=field_name.startswith("whatsapp_params"))
        if syntax is not None:
            errors.append(FieldError(field_name, syntax[1], syntax[0]))
    if not spec.body.strip():
        errors.append(FieldError("body", "o corpo da mensagem é obrigatório"))
    if spec.channel is Channel.EMAIL and not (spec.subject or "").strip():
        errors.append(FieldError("subject", "o assunto é obrigatório no e-mail"))
    if spec.channel is Channel.WHATSAPP:
        if not spec.whatsapp_template_name:
            errors.append(
                FieldError("whatsapp_template_name", "nome do modelo aprovado na Meta obrigatório")
            )
        numbers = sorted({int(n) for n in WHATSAPP_PLACEHOLDER.findall(spec.body)})
        if numbers != list(range(1, len(spec.whatsapp_params) + 1)):
            errors.append(
                FieldError(
                    "whatsapp_params",
                    f"o texto aprovado usa {{{{1}}}}…{{{{{len(numbers)}}}}} "
                    f"({len(numbers)} variáveis) e foram dadas {len(spec.whatsapp_params)} "
                    "expressões: informe uma expressão por variável, na ordem",
                )
            )
    if errors:
        return errors
    try:
        render.check_with_sample(spec, tenant=tenant)
    except render.RenderError as exc:
        errors.append(FieldError(exc.extra.get("field", "body"), exc.detail))
    return errors


def save_template(
    session: Session,
    *,
    tenant_id: uuid.UUID,
    name: str,
    channel: Channel | str,
    data: dict[str, Any],
    actor: str,
) -> TemplateSpec:
    """Validates and stores the tenant's next version of a template (audited).

    Raises :class:`ValidationFailed` (422) listing each problem with its field and line.
    """
    from adimple.messaging import render
    from adimple.tenancy.models import Tenant

    channel = Channel(channel)
    tenant = session.get(Tenant, tenant_id)
    if tenant is None:
        raise NotFound("credor não encontrado")
    spec = TemplateSpec(
        name=name,
        channel=channel,
        subject=data.get("subject"),
        body=data.get("body") or "",
        html=data.get("html"),
        whatsapp_template_name=data.get("whatsapp_template_name"),
        whatsapp_language=data.get("whatsapp_language")
        or ("pt_BR" if channel is Channel.WHATSAPP else None),
        whatsapp_params=tuple(data.get("whatsapp_params") or ()),
    )
    errors = validate_template(session, tenant_id=tenant_id, spec=spec, tenant=tenant)
    if errors:
        raise ValidationFailed(errors=errors, message="modelo recusado: " + str(errors[0]))
    current = session.scalar(
        select(func.max(MessageTemplate.version)).where(
            MessageTemplate.tenant_id == tenant_id,
            MessageTemplate.name == name,
            MessageTemplate.channel == channel,
        )
    )
    session.execute(
        update(MessageTemplate)
        .where(
            MessageTemplate.tenant_id == tenant_id,
            MessageTemplate.name == name,
            MessageTemplate.channel == channel,
        )
        .values(active=False)
    )
    row = MessageTemplate(
        tenant_id=tenant_id,
        name=name,
        channel=channel,
        version=(current or 0) + 1,
        subject=spec.subject,
        body=spec.body,
        html=spec.html,
        whatsapp_template_name=spec.whatsapp_template_name,
        whatsapp_language=spec.whatsapp_language,
        whatsapp_params=list(spec.whatsapp_params),
        created_by=actor,
        created_at=utcnow(),
        active=True,
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        tenant_id=tenant_id,
        actor=actor,
        action="message_template.saved",
        entity_type="message_template",
        entity_id=row.id,
        data={"name": name, "channel": channel.value, "version": row.version},
    )
    render.forget_tenant_templates(tenant_id)
    return _spec_from_row(row)
