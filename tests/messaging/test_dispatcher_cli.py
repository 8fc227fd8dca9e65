"""`adimple worker --once` through the sandbox channel, then `adimple outbox list|show` — the
way the demo shows what was sent. Both databases (a committed database per test)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from dispatch_helpers import OPEN_HOURS, queue_message
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from adimple.cli import app
from adimple.db.engine import make_engine
from adimple.db.migrate import upgrade
from adimple.messaging.models import OutboxStatus
from adimple.portfolio.models import Channel
from adimple.tenancy.service import create_tenant

runner = CliRunner()


@pytest.fixture
def seeded(cli_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.setenv("ADIMPLE_SANDBOX_DIR", str(tmp_path / "sandbox"))
    for name in ("EMAIL", "SMS", "WHATSAPP", "LETTER"):
        monkeypatch.delenv(f"ADIMPLE_CHANNEL_{name}", raising=False)
    engine = make_engine(cli_database)
    upgrade(engine)
    with Session(engine) as session:
        tenant = create_tenant(
            session,
            slug=f"cli-{uuid.uuid4().hex[:8]}",
            legal_name="Loja Exemplo Comércio Ltda",
            document="11.222.333/0001-81",
            address="Rua Augusta, 100",
            city="São Paulo",
            uf="SP",
            postal_code="01305000",
        )
        email = queue_message(session, tenant, channel=Channel.EMAIL)
        sms = queue_message(session, tenant, channel=Channel.SMS)
        session.commit()
        ids = {"slug": tenant.slug, "email": str(email.id), "sms": str(sms.id)}
    engine.dispose()
    return ids


def run(*args: str) -> object:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_worker_once_sends_through_the_sandbox_and_outbox_shows_it(
    seeded: dict[str, str], tmp_path: Path
) -> None:
    slug = seeded["slug"]
    stats = run("worker", "--once", "--tenant", slug, "--as-of", OPEN_HOURS.isoformat())
    assert isinstance(stats, dict)
    assert (stats["sent"], stats["errors"]) == (2, 0)
    assert stats["peak_rss_mb"] > 0

    listed = run("outbox", "list", "--tenant", slug, "--status", "sent")
    assert isinstance(listed, list)
    assert {m["id"] for m in listed} == {seeded["email"], seeded["sms"]}
    assert {m["provider"] for m in listed} == {"sandbox"}
    assert run("outbox", "list", "--tenant", slug, "--status", "queued") == []

    shown = run("outbox", "show", seeded["email"])
    assert isinstance(shown, dict)
    assert shown["status"] == OutboxStatus.SENT.value and shown["rendered"] == "sent"
    assert "Loja Exemplo Comércio Ltda" in shown["subject"]
    text = shown["text"].replace("\xa0", " ")  # Babel puts a no-break space after R$
    assert "R$ 256,67" in text  # 250,00 + multa 2 % + juros, as of the send
    # The sandbox kept the message instead of sending it.
    assert list((tmp_path / "sandbox").rglob("*.json"))

    again = run("worker", "--once", "--tenant", slug, "--as-of", OPEN_HOURS.isoformat())
    assert isinstance(again, dict) and again["claimed"] == 0


def test_show_previews_a_message_not_sent_yet(seeded: dict[str, str]) -> None:
    shown = run("outbox", "show", seeded["sms"])
    assert isinstance(shown, dict)
    assert shown["status"] == "queued" and shown["rendered"] == "preview"
    assert shown["text"]
    # The preview wrote nothing.
    assert run("outbox", "show", seeded["sms"], "--no-preview")["text"] is None  # type: ignore[index]


@pytest.mark.parametrize(
    "args",
    [
        ["outbox", "show", "not-a-uuid"],
        ["outbox", "show", str(uuid.uuid4())],
        ["outbox", "list", "--status", "exploded"],
        ["outbox", "list", "--tenant", "nobody-here"],
        ["worker", "--once", "--lease", "5", "--send-timeout", "10"],
        ["worker", "--once", "--rate-limit", "smtp"],
        ["worker", "--once", "--tenant", "nobody-here"],
    ],
)
def test_invalid_input_is_one_line_and_exit_2(cli_database: str, args: list[str]) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert len(result.stderr.strip().splitlines()) == 1


def test_worker_delivers_to_smtp_configured_by_environment(
    seeded: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The demo path: no ChannelConfig row, the channel comes from ADIMPLE_CHANNEL_EMAIL."""
    from adimple.messaging.testing import running_smtp_server

    with running_smtp_server() as smtp:
        settings = {
            "host": smtp.host,
            "port": smtp.port,
            "security": "none",
            "from_address": "cobranca@credor.example",
        }
        monkeypatch.setenv(
            "ADIMPLE_CHANNEL_EMAIL", json.dumps({"provider": "smtp", "settings": settings})
        )
        stats = run(
            "worker", "--once", "--tenant", seeded["slug"], "--as-of", OPEN_HOURS.isoformat()
        )
        received = smtp.wait_for(1)
    assert isinstance(stats, dict) and stats["sent"] == 2  # the e-mail by SMTP, the SMS sandboxed
    assert len(received) == 1
    shown = run("outbox", "show", seeded["email"])
    assert isinstance(shown, dict) and shown["provider"] == "smtp"
    assert received[0].message["Subject"] == shown["subject"]
