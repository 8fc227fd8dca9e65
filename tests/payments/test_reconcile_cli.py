"""``adimple reconcile FILE`` end to end, committing to SQLite and PostgreSQL: the JSON contract,
the no-op re-import, and exit 2 with one line on stderr for a bad file or tenant."""

from __future__ import annotations

import json
import uuid
from datetime import date
from pathlib import Path

from recon_helpers import Movement, cnab400, customer, receivable
from sqlalchemy import select
from typer.testing import CliRunner

from adimple.cli import app
from adimple.db.engine import make_engine, unit_of_work
from adimple.db.migrate import upgrade
from adimple.portfolio.models import Receivable, ReceivableStatus
from adimple.tenancy.service import create_tenant

runner = CliRunner()
KEYS = [
    "file", "file_id", "layout", "bank_code", "sha256", "records", "payments_created",
    "already_applied", "amount_applied", "receivables_paid", "partial", "overpaid",
    "overpaid_amount", "review", "occurrences", "already_imported", "first_imported_at",
]  # fmt: skip


def _one_line_error(result) -> None:  # type: ignore[no-untyped-def]
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1


def test_reconcile_command(cli_database: str, tmp_path: Path) -> None:
    slug = f"rec-{uuid.uuid4().hex[:8]}"
    engine = make_engine(cli_database)
    upgrade(engine)  # the CLI would migrate the SQLite file itself; we seed it first
    with unit_of_work(engine) as session:
        tenant = create_tenant(
            session,
            slug=slug,
            legal_name="Credor Ltda",
            document="11.222.333/0001-81",
            address="Rua A, 1",
            city="São Paulo",
            uf="SP",
        )
        owner = customer(session, tenant.id)
        receivable(
            session,
            tenant.id,
            owner,
            external_id="T-1",
            amount="180.00",
            due=date(2026, 11, 10),
            nosso_numero="51350000004P",
        )
        tenant_id = tenant.id
    path = tmp_path / "CB161100.RET"
    path.write_bytes(cnab400("237", [
        Movement("51350000004P", paid="180.00", titulo="180.00", tarifa="1.60"),
        Movement("51350000005P", paid="20.00"),
        Movement("51350000006P", codigo="02"),
    ]))  # fmt: skip

    result = runner.invoke(app, ["reconcile", str(path), "--tenant", slug])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert list(data) == KEYS
    assert data["layout"] == "cnab400" and data["bank_code"] == "237" and data["records"] == 3
    assert (data["payments_created"], data["receivables_paid"], data["review"]) == (1, 1, 1)
    assert data["amount_applied"] == "180.00" and data["overpaid_amount"] == "0.00"
    assert data["occurrences"] == {"paid": 2, "registered": 1}
    with unit_of_work(engine) as session:
        row = session.scalars(select(Receivable).where(Receivable.tenant_id == tenant_id)).one()
        assert row.status == ReceivableStatus.PAID  # committed

    again = runner.invoke(app, ["reconcile", str(path), "--tenant", slug])
    assert again.exit_code == 0
    second = json.loads(again.stdout)
    assert second["already_imported"] is True and second["payments_created"] == 0
    assert second["first_imported_at"] and second["file_id"] == data["file_id"]

    bad = tmp_path / "bad.ret"
    bad.write_bytes(path.read_bytes()[:500])
    result = runner.invoke(app, ["reconcile", str(bad), "--tenant", slug])
    _one_line_error(result)
    assert str(bad) in result.stderr
    _one_line_error(runner.invoke(app, ["reconcile", str(tmp_path / "none.ret"), "--tenant", slug]))
    _one_line_error(runner.invoke(app, ["reconcile", str(path), "--tenant", "no-such-tenant"]))
    engine.dispose()
