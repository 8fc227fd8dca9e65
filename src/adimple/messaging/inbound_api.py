"""Routes for what comes back: provider webhooks (JSON API) and the opt-out pages (pt-BR HTML).

- ``POST /api/v1/webhooks/messaging/{provider}[?tenant=slug]`` — signed delivery, read, bounce,
  failure and reply events (see :mod:`adimple.messaging.inbound`).
- ``GET /optout/{token}`` — a confirmation page; it changes nothing (mail scanners and link
  previews fetch links: RFC 8058 §1 is why an unsubscribe must be a POST).
- ``POST /optout/{token}`` — the opt-out itself, from the page's button or as the RFC 8058
  one-click POST (``List-Unsubscribe=One-Click``) a mail client sends. Idempotent.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query, Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment
from pydantic import BaseModel, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from adimple.db.base import utcnow
from adimple.kit.errors import FieldError, Unauthorized, ValidationFailed
from adimple.messaging import inbound
from adimple.messaging.optout import OptOutRequest, OptOutTokenError, read_optout_token
from adimple.portfolio.models import Channel, Customer
from adimple.tenancy.models import Tenant
from adimple.web.deps import DbSession

router = APIRouter(tags=["messaging"])
pages = APIRouter(include_in_schema=False)


class WebhookResult(BaseModel):
    updated: int
    ignored: int
    unmatched: int
    opted_out: int


async def raw_body(request: Request) -> bytes:
    """The exact bytes the signature covers (read before anything parses them)."""
    return await request.body()


_WEBHOOK_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": inbound.WebhookPayload.model_json_schema(by_alias=True),
            }
        },
    }
}


@router.post(
    "/webhooks/messaging/{provider}",
    response_model=WebhookResult,
    summary="Delivery, read, bounce and reply events from a messaging provider",
    description=(
        "Signed with HMAC-SHA256 over the raw body in the `X-Adimple-Signature: sha256=<hex>` "
        "header (tenant's `webhook_secret` for the provider, or `ADIMPLE_WEBHOOK_SECRET`). "
        "Statuses never move backwards; replies SAIR/PARAR/STOP opt the sender out."
    ),
    openapi_extra=_WEBHOOK_BODY,
)
def messaging_webhook(
    session: DbSession,
    body: Annotated[bytes, Depends(raw_body)],
    provider: Annotated[str, Path(max_length=40, pattern=r"^[a-z0-9_\-]+$")],
    tenant: Annotated[
        str | None, Query(max_length=64, description="Tenant slug (scopes the events).")
    ] = None,
    signature: Annotated[str | None, Header(alias=inbound.SIGNATURE_HEADER, max_length=200)] = None,
) -> WebhookResult:
    tenant_id = None
    if tenant is not None:
        tenant_id = session.scalar(select(Tenant.id).where(Tenant.slug == tenant))
    secrets = inbound.webhook_secrets(session, provider=provider, tenant_id=tenant_id)
    if (tenant is not None and tenant_id is None) or not inbound.signature_matches(
        secrets, body, signature
    ):
        # Same answer for an unknown tenant and a bad signature: nothing to probe.
        raise Unauthorized("invalid or missing webhook signature")
    try:
        payload = inbound.WebhookPayload.model_validate_json(body)
    except ValidationError as exc:
        raise ValidationFailed(
            errors=[
                FieldError(
                    field=".".join(str(p) for p in error["loc"]) or "body",
                    reason=error["msg"],
                )
                for error in exc.errors()[:50]
            ]
        ) from None
    outcome = inbound.apply_events(
        session, provider=provider, events=payload.events, tenant_id=tenant_id, now=utcnow()
    )
    return WebhookResult(**outcome.as_dict())


# --- opt-out pages ---------------------------------------------------------------------------

_CHANNEL_NAMES = {
    Channel.EMAIL: "e-mail",
    Channel.SMS: "SMS",
    Channel.WHATSAPP: "WhatsApp",
    Channel.LETTER: "carta",
    Channel.PHONE: "telefone",
}

_env = Environment(autoescape=True)
_PAGE = _env.from_string(
    """<!doctype html>
<html lang="pt-BR"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{{ title }}</title>
<style>
body{font-family:system-ui,sans-serif;max-width:34rem;margin:3rem auto;padding:0 1rem;
color:#1f2933;line-height:1.5}
h1{font-size:1.4rem}button{font-size:1rem;padding:.6rem 1.2rem;border-radius:.4rem;
border:1px solid #1f4e79;background:#1f4e79;color:#fff;cursor:pointer}
.credor{margin-top:2rem;font-size:.9rem;color:#52606d;border-top:1px solid #e4e7eb;
padding-top:1rem}
</style></head>
<body><main>
<h1>{{ title }}</h1>
{% for paragraph in paragraphs %}<p>{{ paragraph }}</p>{% endfor %}
{% if form %}<form method="post">
<button type="submit">Confirmar descadastro</button></form>{% endif %}
{% if creditor %}<p class="credor">{{ creditor.legal_name }} — CNPJ/CPF {{ creditor.document }}
<br>{{ creditor.address }}, {{ creditor.city }}/{{ creditor.uf }}</p>{% endif %}
</main></body></html>
"""
)


def _page(
    title: str,
    paragraphs: list[str],
    *,
    creditor: Any = None,
    form: bool = False,
    status_code: int = 200,
) -> HTMLResponse:
    html = _PAGE.render(title=title, paragraphs=paragraphs, creditor=creditor, form=form)
    return HTMLResponse(html, status_code=status_code, headers={"Cache-Control": "no-store"})


def _invalid_link() -> HTMLResponse:
    return _page(
        "Link inválido",
        [
            "Este link de descadastro não é válido ou foi alterado.",
            "Use o link completo da mensagem que você recebeu.",
        ],
        status_code=404,
    )


def _resolve(session: Session, token: str) -> tuple[OptOutRequest, Tenant] | None:
    """The token's request and its creditor, or None for a bad link or a deleted customer."""
    try:
        request = read_optout_token(token)
    except OptOutTokenError:
        return None
    creditor = session.get(Tenant, request.tenant_id)
    customer = session.scalar(
        select(Customer.id).where(
            Customer.tenant_id == request.tenant_id, Customer.id == request.customer_id
        )
    )
    if creditor is None or customer is None:
        return None
    return request, creditor


@pages.get("/optout/{token}", response_class=HTMLResponse)
def optout_page(token: Annotated[str, Path(max_length=200)], session: DbSession) -> HTMLResponse:
    resolved = _resolve(session, token)
    if resolved is None:
        return _invalid_link()
    request, creditor = resolved
    name = _CHANNEL_NAMES[request.channel]
    return _page(
        f"Descadastro de mensagens por {name}",
        [
            f"Você deixará de receber mensagens de cobrança de {creditor.legal_name} por {name}.",
            "Comunicações exigidas por lei (como a notificação por carta antes de uma inclusão "
            "em cadastro de inadimplentes) continuam sendo enviadas.",
        ],
        creditor=creditor,
        form=True,
    )


@pages.post("/optout/{token}", response_class=HTMLResponse)
def optout_confirm(token: Annotated[str, Path(max_length=200)], session: DbSession) -> HTMLResponse:
    """The page's button and the RFC 8058 one-click POST (body ``List-Unsubscribe=One-Click``)
    land here alike; the signed token is the authorisation."""
    resolved = _resolve(session, token)
    if resolved is None:
        return _invalid_link()
    request, creditor = resolved
    result = inbound.opt_out(
        session,
        tenant_id=request.tenant_id,
        customer_id=request.customer_id,
        channel=request.channel,
        source="link",
        actor="optout_link",
        now=utcnow(),
    )
    name = _CHANNEL_NAMES[request.channel]
    return _page(
        "Descadastro confirmado",
        [
            f"Pronto: você não receberá mais mensagens de cobrança de {creditor.legal_name} "
            f"por {name}."
            if result.created
            else f"Seu descadastro de mensagens por {name} já estava registrado.",
        ],
        creditor=creditor,
    )
