"""From an outbox row to what the provider received: render with the tenant's data, send through
the tenant's configured adapter, read what arrived at the real local servers (both DBs)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from render_helpers import NOW, customer_with_debt, outbox_for
from sqlalchemy.orm import Session

from adimple.messaging.channels import adapters_for_tenant
from adimple.messaging.channels.config import save_channel
from adimple.messaging.channels.models import ProviderKind
from adimple.messaging.render import clear_caches, render_outbox_message
from adimple.messaging.testing import (
    WHATSAPP,
    ZENVIA,
    HttpProvider,
    SmtpServer,
    running_http_provider,
    running_smtp_server,
)
from adimple.portfolio.models import Channel
from adimple.tenancy.models import Tenant


@pytest.fixture(scope="module")
def smtp() -> Iterator[SmtpServer]:
    with running_smtp_server() as server:
        yield server


@pytest.fixture(scope="module")
def http() -> Iterator[HttpProvider]:
    with running_http_provider(token="tok") as server:
        yield server


@pytest.fixture(autouse=True)
def _configure(session: Session, tenant: Tenant, smtp: SmtpServer, http: HttpProvider) -> None:
    clear_caches()
    http.reset()
    for channel, provider, settings, secrets in (
        (
            Channel.EMAIL,
            ProviderKind.SMTP,
            {
                "host": smtp.host,
                "port": smtp.port,
                "security": "none",
                "from_address": "cobranca@lojaexemplo.com.br",
                "from_name": "Loja Exemplo",
            },
            {},
        ),
        (
            Channel.SMS,
            ProviderKind.ZENVIA,
            {"base_url": http.url, "sender": "loja"},
            {"token": "tok"},
        ),
        (
            Channel.WHATSAPP,
            ProviderKind.WHATSAPP_CLOUD,
            {"base_url": http.url, "phone_number_id": "1234567890"},
            {"access_token": "tok"},
        ),
    ):
        save_channel(
            session,
            tenant_id=tenant.id,
            channel=channel,
            provider=provider,
            settings=settings,
            secrets=secrets,
            actor="test",
        )


def _send(session: Session, tenant: Tenant, channel: Channel) -> str:
    customer, receivables = customer_with_debt(session, tenant)
    message = outbox_for(
        session, tenant, customer, receivables, channel=channel, template="aviso_atraso"
    )
    outgoing = render_outbox_message(session, message, now=NOW)
    result = adapters_for_tenant(session, tenant.id)[channel].send(outgoing)
    return result.provider_message_id


def test_email(session: Session, tenant: Tenant, smtp: SmtpServer) -> None:
    before = len(smtp.messages)
    message_id = _send(session, tenant, Channel.EMAIL)
    received = smtp.wait_for(before + 1)[-1].message
    assert received["Message-ID"] == message_id
    text = received.get_body(("plain",))
    assert text is not None
    content = text.get_content()
    assert "Loja Exemplo Comércio Ltda" in content and "11.222.333/0001-81" in content
    assert received["List-Unsubscribe"].startswith("<http://127.0.0.1:8000/optout/")


def test_sms_through_zenvia(session: Session, tenant: Tenant, http: HttpProvider) -> None:
    _send(session, tenant, Channel.SMS)
    [request] = http.requests_for(ZENVIA)
    text = request.body["contents"][0]["text"]
    assert "11.222.333/0001-81" in text and "responda SAIR" in text
    assert "Comercio" not in text  # é is GSM-7: kept; ç/ã would be transliterated


def test_whatsapp_through_the_cloud_api(
    session: Session, tenant: Tenant, http: HttpProvider
) -> None:
    message_id = _send(session, tenant, Channel.WHATSAPP)
    [request] = http.requests_for(WHATSAPP)
    template = request.body["template"]
    assert template["name"] == "aviso_atraso" and template["language"] == {"code": "pt_BR"}
    params = [p["text"] for p in template["components"][0]["parameters"]]
    assert params[0] == "Maria" and "Loja Exemplo Comércio Ltda" in params
    assert message_id.startswith("wamid.")
