"""``adimple billing`` and ``adimple charge`` on both databases (the CLI commits)."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
import yaml
from billing_helpers import ITAU, PIX, customer, receivable
from typer.testing import CliRunner

from adimple.cli import app
from adimple.db.engine import unit_of_work
from adimple.payments.boleto import decode as decode_boleto
from adimple.payments.pix import decode as decode_pix
from adimple.payments.psp.testserver import running_psp_server

runner = CliRunner()


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


@dataclass
class Seeded:
    slug: str
    external_id: str


@pytest.fixture
def seeded(cli_database: str) -> Seeded:
    from adimple.db.engine import make_engine
    from adimple.db.migrate import upgrade
    from adimple.tenancy.service import create_tenant

    engine = make_engine(cli_database)
    upgrade(engine)
    engine.dispose()
    slug = f"cli-{uuid.uuid4().hex[:8]}"
    external_id = f"T-{uuid.uuid4().hex[:8]}"
    with unit_of_work() as session:
        tenant = create_tenant(
            session,
            slug=slug,
            legal_name="Credor CLI Ltda",
            document="11.222.333/0001-81",
            address="Rua A, 1",
            city="São Paulo",
            uf="SP",
        )
        owner = customer(session, tenant)
        receivable(session, tenant, owner, due=date(2026, 12, 10), external_id=external_id)
    return Seeded(slug, external_id)


def write(path: Path, data: object) -> Path:
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


class TestBillingCli:
    def test_settings_show_instructions_and_pdf(self, seeded: Seeded, tmp_path: Path) -> None:
        settings = write(tmp_path / "cobranca.yaml", {"boleto": ITAU, "pix": PIX})
        code, out, err = run(
            "billing", "settings", "--file", str(settings), "--tenant", seeded.slug
        )
        assert code == 0, err
        assert json.loads(out)["pix_mode"] == "static"
        code, out, _ = run("billing", "show", "--tenant", seeded.slug)
        assert code == 0 and json.loads(out)["boleto"]["bank"] == "341"
        args = ["charge", "instructions", seeded.external_id, "--tenant", seeded.slug]
        code, out, err = run(*args, "--as-of", "2026-11-23")
        assert code == 0, err
        data = json.loads(out)
        assert data["amount"] == "1234.56" and data["due_date"] == "2026-12-10"
        assert decode_boleto(data["boleto"]["linha_digitavel"]).due_date == date(2026, 12, 10)
        assert decode_pix(data["pix"]["br_code"]).amount is not None
        # Committed: a second run reuses the same documents.
        code, again, _ = run(*args, "--as-of", "2026-11-24")
        assert json.loads(again)["boleto"]["nosso_numero"] == data["boleto"]["nosso_numero"]
        pdf = tmp_path / "boleto.pdf"
        code, out, err = run(
            "charge", "boleto-pdf", seeded.external_id, "--out", str(pdf), "--tenant", seeded.slug
        )
        assert code == 0, err
        assert pdf.read_bytes().startswith(b"%PDF") and json.loads(out)["bytes"] > 1000

    def test_settings_with_psp_and_webhook(self, seeded: Seeded, tmp_path: Path) -> None:
        with running_psp_server() as psp:
            document = {
                "pix": PIX,
                "psp": {
                    "base_url": psp.base_url,
                    "client_id": psp.client_id,
                    "client_secret": psp.client_secret,
                    "webhook_url": "https://adimple.example/api/v1/webhooks/pix/adk_x",
                },
            }
            path = tmp_path / "cobranca.json"
            path.write_text(json.dumps(document), encoding="utf-8")
            code, out, err = run(
                "billing", "settings", "--file", str(path), "--tenant", seeded.slug
            )
            assert code == 0, err
            assert psp.client_secret not in out
            code, out, err = run("billing", "register-webhook", "--tenant", seeded.slug)
            assert code == 0, err
            assert psp.state.webhooks[PIX["key"]].endswith("/pix/adk_x")
            code, out, err = run(
                "charge",
                "instructions",
                seeded.external_id,
                "--tenant",
                seeded.slug,
                "--as-of",
                "2026-11-23",
            )
            assert code == 0, err
            assert json.loads(out)["pix"]["kind"] == "cobv"

    @pytest.mark.parametrize(
        ("content", "message"),
        [
            ("boleto: [", "ilegível"),
            ("- 1\n", "objeto"),
            ("boleto:\n  bank: '34'\n", "boleto.bank"),
            ("boleto:\n  bank: '341'\n  agencia: '1'\n", "conta"),
            ("pix:\n  key: k\n  extra: 1\n", "pix.extra"),
        ],
    )
    def test_invalid_settings_file(
        self, seeded: Seeded, tmp_path: Path, content: str, message: str
    ) -> None:
        path = tmp_path / "bad.yaml"
        path.write_text(content, encoding="utf-8")
        code, out, err = run("billing", "settings", "--file", str(path), "--tenant", seeded.slug)
        assert code == 2 and out == ""
        assert len(err.strip().splitlines()) == 1 and message in err

    def test_errors_are_one_line(self, seeded: Seeded, tmp_path: Path) -> None:
        code, _, err = run("charge", "instructions", seeded.external_id, "--tenant", seeded.slug)
        assert code == 2 and "adimple billing settings" in err
        code, _, err = run("charge", "instructions", "NOPE", "--tenant", seeded.slug)
        assert code == 2 and len(err.strip().splitlines()) == 1
        code, _, err = run(
            "charge", "instructions", seeded.external_id, "--tenant", seeded.slug, "--as-of", "x"
        )
        assert code == 2 and "--as-of" in err
        code, _, err = run("billing", "settings", "--file", str(tmp_path / "none.yaml"))
        assert code == 2
