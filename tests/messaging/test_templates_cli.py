"""``adimple templates list|preview`` and ``adimple letters close`` on both databases."""

from __future__ import annotations

import json
import uuid
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from adimple.cli import app
from adimple.db.engine import get_engine, unit_of_work
from adimple.db.migrate import upgrade
from adimple.messaging.render import clear_caches
from adimple.tenancy.service import create_tenant
from builders import make_customer, make_receivable

runner = CliRunner()


@pytest.fixture
def seeded(cli_database: str) -> tuple[str, str]:
    clear_caches()
    upgrade(get_engine())  # a fresh SQLite file is only migrated by the first command
    slug = f"cli-{uuid.uuid4().hex[:8]}"
    with unit_of_work() as session:
        tenant = create_tenant(
            session,
            slug=slug,
            legal_name="Loja Exemplo Comércio Ltda",
            document="11.222.333/0001-81",
            address="Rua Augusta, 100",
            city="São Paulo",
            uf="SP",
        )
        customer = make_customer(session, tenant, name="Maria da Silva")
        make_receivable(session, customer, date(2026, 11, 2), "250.00")
        external_id = customer.external_id
    return slug, external_id


def test_list_and_preview(seeded: tuple[str, str]) -> None:
    slug, customer = seeded
    listed = runner.invoke(app, ["templates", "list", "--tenant", slug])
    assert listed.exit_code == 0, listed.output
    assert len(json.loads(listed.stdout)) == 14
    shown = runner.invoke(
        app,
        ["templates", "preview", "aviso_atraso", "sms", "--customer", customer, "--tenant", slug],
    )
    assert shown.exit_code == 0, shown.output
    body = json.loads(shown.stdout)
    assert body["sms"]["encoding"] == "gsm7" and "Maria" in body["text"]


def test_preview_errors_exit_2(seeded: tuple[str, str]) -> None:
    slug, customer = seeded
    args = ["templates", "preview", "nao_existe", "sms", "--customer", customer]
    result = runner.invoke(app, [*args, "--tenant", slug])
    assert result.exit_code == 2 and "não existe" in result.stderr


def test_letters_close(
    seeded: tuple[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    slug, _ = seeded
    monkeypatch.setenv(
        "ADIMPLE_CHANNEL_LETTER",
        json.dumps({"provider": "letter", "settings": {"directory": str(tmp_path)}}),
    )
    empty = runner.invoke(app, ["letters", "close", "--tenant", slug])
    assert empty.exit_code == 0, empty.output
    assert json.loads(empty.stdout)["letters"] == 0
    monkeypatch.delenv("ADIMPLE_CHANNEL_LETTER")
    refused = runner.invoke(app, ["letters", "close", "--tenant", slug])
    assert refused.exit_code == 2
