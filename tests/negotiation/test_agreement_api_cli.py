"""Agreements over the JSON API (operator creates with an Idempotency-Key, problem details,
tenant isolation) and the ``adimple agreements`` CLI (JSON, exit 2 on bad input)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import date

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from adimple.charges.policy import Policy
from adimple.charges.service import save_policy
from adimple.cli import app as cli_app
from adimple.db.engine import make_engine, unit_of_work
from adimple.db.migrate import upgrade
from adimple.tenancy.service import create_api_key, create_tenant
from adimple.web.app import create_app
from builders import make_customer, make_receivable

AS_OF = "2026-11-23"


def _client(session_maker: sessionmaker[Session], token: str) -> TestClient:
    app = create_app()
    app.state.session_factory = session_maker
    return TestClient(app, headers={"Authorization": f"Bearer {token}"})


def _seed(session: Session, tenant) -> uuid.UUID:  # type: ignore[no-untyped-def]
    policy = Policy(correction={"index": "none"}, interest={"mode": "monthly_simple"})
    save_policy(session, tenant_id=tenant.id, document=policy, actor="test")
    customer = make_customer(session, tenant)
    make_receivable(session, customer, date(2026, 9, 1), "600.00")
    make_receivable(session, customer, date(2026, 10, 1), "400.00")
    return customer.id


@pytest.fixture
def api(session_maker: sessionmaker[Session], session: Session, tenant) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    _, token = create_api_key(session, tenant_id=tenant.id, name="tests")
    session.commit()
    with _client(session_maker, token) as client:
        yield client


def test_operator_creates_lists_and_reads(
    api: TestClient, session_maker: sessionmaker[Session], session: Session, tenant
) -> None:  # type: ignore[no-untyped-def]
    customer_id = _seed(session, tenant)
    session.commit()
    url = f"/api/v1/customers/{customer_id}/agreements"
    body = {"offer_id": "parcelado-3x", "as_of": AS_OF, "note": "aceite por telefone"}
    created = api.post(url, json=body, headers={"Idempotency-Key": "op-1"})
    assert created.status_code == 201, created.text
    data = created.json()
    assert data["number"].startswith("AC-") and data["status"] == "pending"
    assert data["channel"] == "operator" and len(data["installments"]) == 3
    assert data["next_installment"]["number"] == 1
    again = api.post(url, json=body, headers={"Idempotency-Key": "op-1"})
    assert again.status_code == 201 and again.json()["id"] == data["id"]

    other = api.post(url, json=body, headers={"Idempotency-Key": "op-2"})
    assert other.status_code == 409
    assert other.headers["content-type"].startswith("application/problem+json")
    assert data["number"] in other.json()["detail"]

    listed = api.get(url)
    assert [a["id"] for a in listed.json()] == [data["id"]]
    one = api.get(f"/api/v1/agreements/{data['id']}")
    assert one.status_code == 200 and one.json()["total"] == data["total"]
    assert api.get(f"/api/v1/agreements/{uuid.uuid4()}").status_code == 404

    gone = api.post(f"/api/v1/customers/{uuid.uuid4()}/agreements", json={"offer_id": "a-vista"})
    assert gone.status_code == 404


def test_other_tenant_sees_nothing(
    api: TestClient, session_maker: sessionmaker[Session], session: Session, tenant
) -> None:  # type: ignore[no-untyped-def]
    customer_id = _seed(session, tenant)
    session.commit()
    created = api.post(
        f"/api/v1/customers/{customer_id}/agreements",
        json={"offer_id": "a-vista", "as_of": AS_OF},
    ).json()
    other = create_tenant(
        session,
        slug=f"outro-{uuid.uuid4().hex[:6]}",
        legal_name="Outro Credor S.A.",
        document="11.444.777/0001-61",
        address="Rua B, 2",
        city="Curitiba",
        uf="PR",
    )
    _, token = create_api_key(session, tenant_id=other.id, name="other")
    session.commit()
    with _client(session_maker, token) as client:
        assert client.get(f"/api/v1/agreements/{created['id']}").status_code == 404
        assert client.get(f"/api/v1/customers/{customer_id}/agreements").json() == []


def test_offer_not_available_is_a_409(api: TestClient, session: Session, tenant) -> None:  # type: ignore[no-untyped-def]
    customer_id = _seed(session, tenant)
    session.commit()
    response = api.post(
        f"/api/v1/customers/{customer_id}/agreements",
        json={"offer_id": "parcelado-99x", "as_of": AS_OF},
    )
    assert response.status_code == 409
    assert "não está mais disponível" in response.json()["detail"]


def test_cli_list_show_check(cli_database: str) -> None:
    from adimple.negotiation.service import create_agreement

    runner = CliRunner()
    slug = f"neg-{uuid.uuid4().hex[:8]}"
    engine = make_engine(cli_database)
    upgrade(engine)
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
        customer_id = _seed(session, tenant)
        agreement = create_agreement(
            session,
            tenant_id=tenant.id,
            customer_id=customer_id,
            offer_id="parcelado-2x",
            as_of=date(2026, 11, 23),
            channel="api",
            actor="test",
            consent={"ip": "203.0.113.7"},
        )
        number = agreement.number
    engine.dispose()

    listed = runner.invoke(
        cli_app, ["agreements", "list", "--customer", str(customer_id), "--tenant", slug]
    )
    assert listed.exit_code == 0, listed.output
    assert [a["number"] for a in json.loads(listed.stdout)] == [number]
    shown = runner.invoke(
        cli_app, ["agreements", "show", number, "--tenant", slug, "--date", AS_OF]
    )
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout)["installments"][0]["status"] == "open"
    early = runner.invoke(
        cli_app, ["agreements", "check", "--date", "2026-11-25", "--tenant", slug]
    )
    assert json.loads(early.stdout)["lapsed"] == []
    late = runner.invoke(cli_app, ["agreements", "check", "--date", "2026-12-30", "--tenant", slug])
    assert late.exit_code == 0, late.output
    assert json.loads(late.stdout)["lapsed"] == [number]

    for args in (
        ["agreements", "check", "--date", "30/12/2026", "--tenant", slug],
        ["agreements", "show", "AC-999999", "--tenant", slug],
        ["agreements", "check", "--date", AS_OF, "--tenant", "no-such-tenant"],
    ):
        bad = runner.invoke(cli_app, args)
        assert bad.exit_code == 2, bad.output
        assert bad.stdout == "" and len(bad.stderr.strip().splitlines()) == 1
