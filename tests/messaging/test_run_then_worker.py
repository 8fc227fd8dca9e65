"""Issue 5's "done when", end to end through the command line on both databases:
`adimple run` plans the day, `adimple worker --once` delivers it — e-mail to a real SMTP server,
SMS and WhatsApp to a local HTTP provider speaking the providers' APIs — and a second worker
pass sends nothing again."""

from __future__ import annotations

import json
import uuid
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from adimple.cadence.library import install_defaults
from adimple.cli import app
from adimple.db.engine import make_engine, unit_of_work
from adimple.db.migrate import upgrade
from adimple.messaging.testing import running_http_provider, running_smtp_server
from adimple.tenancy.service import create_tenant
from builders import add_contact, make_customer, make_receivable, pay

runner = CliRunner()


def invoke(*args: str) -> dict[str, object]:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)  # type: ignore[no-any-return]


@pytest.fixture
def slug(cli_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("ADIMPLE_SANDBOX_DIR", str(tmp_path / "sandbox"))
    monkeypatch.setenv("ADIMPLE_LETTER_DIR", str(tmp_path / "letters"))
    upgrade(make_engine(cli_database))
    name = f"e2e-{uuid.uuid4().hex[:8]}"
    with unit_of_work() as session:
        tenant = create_tenant(
            session,
            slug=name,
            legal_name="Loja Exemplo Comércio Ltda",
            document="11.222.333/0001-81",
            address="Rua Augusta, 100",
            city="São Paulo",
            uf="SP",
            postal_code="01305000",
        )
        install_defaults(session, tenant_id=tenant.id, actor="test")
        customer = make_customer(session, tenant, name="Maria da Silva", external_id=f"{name}-C")
        add_contact(session, customer, "email", "maria@example.com")
        add_contact(session, customer, "phone", "+5511987654321")
        # A customer with history — paid once, late, in March (not loyal, not chronic, not
        # new): the standard régua, `aviso_atraso` by e-mail and WhatsApp the day after due.
        old = make_receivable(session, customer, date(2026, 3, 10), issue=date(2026, 2, 1))
        pay(session, old, date(2026, 3, 25))
        make_receivable(session, customer, date(2026, 11, 23), "250.00", issue=date(2026, 10, 23))
    return name


def test_run_then_worker_delivers_to_smtp_and_http(
    slug: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = invoke("run", "--date", "2026-11-24", "--tenant", slug)
    tenants = plan["tenants"]
    assert isinstance(tenants, list) and tenants[0]["contacts"] == 2
    with running_smtp_server() as smtp, running_http_provider() as http:
        monkeypatch.setenv(
            "ADIMPLE_CHANNEL_EMAIL",
            json.dumps(
                {
                    "provider": "smtp",
                    "settings": {
                        "host": smtp.host,
                        "port": smtp.port,
                        "security": "none",
                        "from_address": "cobranca@lojaexemplo.example",
                    },
                }
            ),
        )
        monkeypatch.setenv(
            "ADIMPLE_CHANNEL_WHATSAPP",
            json.dumps(
                {
                    "provider": "whatsapp_cloud",
                    "settings": {"base_url": http.url, "phone_number_id": "123"},
                    "secrets": {"access_token": "t"},
                }
            ),
        )
        # 14:00 in São Paulo on the cycle date: inside the contact window.
        stats = invoke("worker", "--once", "--tenant", slug, "--as-of", "2026-11-24T17:00:00Z")
        received = smtp.wait_for(1)
        whatsapp = http.requests_for("whatsapp_cloud")
        again = invoke("worker", "--once", "--tenant", slug, "--as-of", "2026-11-24T17:05:00Z")
    assert stats["sent"] == 2 and again["sent"] == 0
    assert len(received) == 1
    email = received[0]
    assert email.message["To"] == "maria@example.com"
    text = email.message.get_body(preferencelist=("plain",)).get_content()
    assert "Loja Exemplo Comércio Ltda" in text and "11.222.333/0001-81" in text  # art. 42-A
    assert "250,00" in text
    assert len(whatsapp) == 1
    body = whatsapp[0].body
    assert body["to"].endswith("5511987654321") and body["type"] == "template"
    sent = invoke("outbox", "list", "--tenant", slug, "--status", "sent")
    assert "maria@example.com" in json.dumps(sent)
