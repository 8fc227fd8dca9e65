"""`adimple plan` / `adimple run` contracts (issue 4), on both databases."""

from __future__ import annotations

import json
import uuid
from datetime import date

import pytest
from typer.testing import CliRunner

from adimple.cadence.cycle import cycle_lock
from adimple.cadence.library import install_defaults
from adimple.cli import app
from adimple.db.engine import get_engine, make_engine, unit_of_work
from adimple.db.migrate import upgrade
from adimple.tenancy.models import Tenant
from adimple.tenancy.service import create_tenant
from builders import add_contact, make_customer, make_receivable

runner = CliRunner()


@pytest.fixture
def slug(cli_database: str) -> str:
    upgrade(make_engine(cli_database))
    name = f"run-{uuid.uuid4().hex[:8]}"
    with unit_of_work() as session:
        tenant = create_tenant(
            session,
            slug=name,
            legal_name="Credora Ciclo Ltda",
            document="11.222.333/0001-81",
            address="Rua A, 1",
            city="São Paulo",
            uf="SP",
        )
        install_defaults(session, tenant_id=tenant.id, actor="test")
        customer = make_customer(session, tenant, external_id=f"{name}-C1")
        add_contact(session, customer, "email", "maria@example.com")
        add_contact(session, customer, "phone", "+5511987654321")
        make_receivable(session, customer, date(2026, 11, 23), external_id=f"{name}-T1")
    return name


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_plan_prints_the_contract_and_writes_nothing(slug: str) -> None:
    code, out, err = invoke("plan", "--date", "2026-11-24", "--tenant", slug)
    assert code == 0, err
    plan = json.loads(out)
    assert set(plan) == {"date", "contacts", "tasks", "suppressed"}
    assert plan["date"] == "2026-11-24"
    (first, *_) = plan["contacts"]
    assert set(first) == {
        "customer_external_id",
        "step",
        "channel",
        "contact_point",
        "scheduled_for",
        "receivable_external_ids",
    }
    assert first["receivable_external_ids"] == [f"{slug}-T1"]
    again = json.loads(invoke("plan", "--date", "2026-11-24", "--tenant", slug)[1])
    assert again == plan  # a dry run leaves no trace


def test_run_is_idempotent(slug: str) -> None:
    code, out, err = invoke("run", "--date", "2026-11-24", "--tenant", slug)
    assert code == 0, err
    first = json.loads(out)["tenants"][0]
    assert first["tenant"] == slug and first["contacts"] >= 1
    assert first["cases"]["opened"] == 1
    code, out, err = invoke("run", "--date", "2026-11-24", "--tenant", slug)
    assert code == 0, err
    second = json.loads(out)["tenants"][0]
    assert second["contacts"] == 0 and second["cases"] == {}
    assert json.loads(invoke("plan", "--date", "2026-11-24", "--tenant", slug)[1])["contacts"] == []


def test_concurrent_run_exits_with_a_clear_message(slug: str) -> None:
    with unit_of_work() as session:
        tenant = session.query(Tenant).filter_by(slug=slug).one()
        session.expunge(tenant)
    with cycle_lock(get_engine(), tenant, date(2026, 11, 24)):
        code, _, err = invoke("run", "--date", "2026-11-24", "--tenant", slug)
    assert code == 3
    assert "is running" in err and slug in err


def test_bad_input(slug: str) -> None:
    code, _, err = invoke("plan", "--date", "24/11/2026", "--tenant", slug)
    assert code == 2 and "--date" in err
    code, _, err = invoke("run", "--date", "2026-11-24", "--tenant", "nobody-here")
    assert code == 2 and err.strip()
