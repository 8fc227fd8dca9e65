"""The portfolio API on both databases: CRUD, bulk upsert, filters, problem details, isolation."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from adimple.tenancy.service import create_api_key, create_tenant
from adimple.web.app import create_app


@pytest.fixture
def api(session_maker: sessionmaker[Session], session: Session, tenant) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    app = create_app()
    app.state.session_factory = session_maker
    _, token = create_api_key(session, tenant_id=tenant.id, name="tests")
    session.commit()
    with TestClient(app, headers={"Authorization": f"Bearer {token}"}) as client:
        yield client


@pytest.fixture
def other_api(session_maker: sessionmaker[Session], session: Session) -> Iterator[TestClient]:
    app = create_app()
    app.state.session_factory = session_maker
    other = create_tenant(
        session,
        slug="outro-credor",
        legal_name="Outro Credor S.A.",
        document="11.444.777/0001-61",
        address="Rua B, 2",
        city="Curitiba",
        uf="PR",
    )
    _, token = create_api_key(session, tenant_id=other.id, name="other")
    session.commit()
    with TestClient(app, headers={"X-API-Key": token}) as client:
        yield client


MARIA = {
    "external_id": "C1",
    "document": "529.982.247-25",
    "name": "Maria da Silva",
    "uf": "SP",
    "email": "maria@example.com",
    "phone": "11987654321",
}


def seed(api: TestClient) -> dict[str, str]:
    customer = api.post("/api/v1/customers", json=MARIA)
    assert customer.status_code == 201, customer.text
    receivables = api.post(
        "/api/v1/receivables/bulk",
        json=[
            {
                "external_id": f"T{i}",
                "customer_external_id": "C1",
                "issue_date": "2026-01-01",
                "due_date": f"2026-{i:02d}-10",
                "amount": "150.00",
                "installment_number": i,
                "installment_count": 12,
            }
            for i in range(1, 13)
        ],
    )
    assert receivables.status_code == 200, receivables.text
    assert receivables.json()["inserted"] == 12
    return {"customer_id": customer.json()["id"]}


class TestAuth:
    def test_missing_key_is_a_problem_document(self, api: TestClient) -> None:
        response = api.get("/api/v1/customers", headers={"Authorization": ""})
        assert response.status_code == 401
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["status"] == 401

    def test_wrong_key(self, api: TestClient) -> None:
        response = api.get("/api/v1/customers", headers={"Authorization": "Bearer adk_x_y"})
        assert response.status_code == 401


class TestCustomers:
    def test_create_read_update_delete(self, api: TestClient) -> None:
        created = api.post("/api/v1/customers", json=MARIA).json()
        assert created["document"] == "52998224725" and created["document_kind"] == "cpf"
        points = api.get(f"/api/v1/customers/{created['id']}/contact-points").json()
        assert {p["value"] for p in points} == {"maria@example.com", "+5511987654321"}
        patched = api.patch(f"/api/v1/customers/{created['id']}", json={"disputed": True})
        assert patched.json()["disputed"] is True
        assert api.delete(f"/api/v1/customers/{created['id']}").status_code == 204
        assert api.get(f"/api/v1/customers/{created['id']}").status_code == 404

    def test_invalid_document_is_422_with_the_field(self, api: TestClient) -> None:
        response = api.post("/api/v1/customers", json={**MARIA, "document": "529.982.247-26"})
        assert response.status_code == 422
        body = response.json()
        assert body["errors"][0]["field"] == "document"
        assert "CPF" in body["errors"][0]["reason"]

    def test_third_party_contact_point(self, api: TestClient) -> None:
        created = api.post("/api/v1/customers", json=MARIA).json()
        response = api.post(
            f"/api/v1/customers/{created['id']}/contact-points",
            json={"kind": "phone", "value": "(21) 99888-7766", "owner": "third_party"},
        )
        assert response.status_code == 201
        assert response.json()["value"] == "+5521998887766"
        assert response.json()["owner"] == "third_party"

    def test_bulk_all_or_nothing_and_partial(self, api: TestClient) -> None:
        items = [MARIA, {**MARIA, "external_id": "C2", "document": "123"}]
        response = api.post("/api/v1/customers/bulk", json=items)
        assert response.status_code == 422
        assert response.json()["errors"] == [
            {"line": 1, "field": "document", "reason": "'123' is not a valid CPF (check digits)"}
        ]
        assert api.get("/api/v1/customers").json()["total"] == 0
        partial = api.post("/api/v1/customers/bulk?partial=true", json=items).json()
        assert (partial["inserted"], partial["rejected"]) == (1, 1)


class TestReceivables:
    def test_filters_and_pagination(self, api: TestClient) -> None:
        seed(api)
        page = api.get("/api/v1/receivables", params={"limit": 5, "offset": 5}).json()
        assert page["total"] == 12 and len(page["items"]) == 5
        assert page["items"][0]["external_id"] == "T6"
        assert page["items"][0]["original_amount"] == "150.00"
        ranged = api.get(
            "/api/v1/receivables", params={"due_from": "2026-03-01", "due_to": "2026-04-30"}
        ).json()
        assert [r["external_id"] for r in ranged["items"]] == ["T3", "T4"]
        # Today is 2026-11-22: January..November installments are overdue.
        assert api.get("/api/v1/receivables", params={"overdue": True}).json()["total"] >= 10

    def test_payment_settles_and_status_filter(self, api: TestClient) -> None:
        seed(api)
        response = api.post(
            "/api/v1/payments",
            json={
                "external_id": "P1",
                "receivable_external_id": "T1",
                "paid_on": "2026-01-10",
                "amount": "150.00",
                "fees": "1.50",
            },
        )
        assert response.status_code == 201, response.text
        assert response.json()["net"] == "148.50"
        paid = api.get("/api/v1/receivables", params={"status": "paid"}).json()
        assert [r["external_id"] for r in paid["items"]] == ["T1"]
        assert paid["items"][0]["balance"] == "0.00"

    def test_cancel_by_hand_but_not_mark_paid(self, api: TestClient) -> None:
        seed(api)
        first = api.get("/api/v1/receivables", params={"limit": 1}).json()["items"][0]
        bad = api.patch(f"/api/v1/receivables/{first['id']}", json={"status": "paid"})
        assert bad.status_code == 422
        ok = api.patch(f"/api/v1/receivables/{first['id']}", json={"status": "cancelled"})
        assert ok.json()["status"] == "cancelled" and ok.json()["balance"] == "0.00"

    def test_amount_with_three_decimals_is_rejected(self, api: TestClient) -> None:
        seed(api)
        response = api.post(
            "/api/v1/receivables",
            json={
                "external_id": "X",
                "customer_external_id": "C1",
                "issue_date": "2026-01-01",
                "due_date": "2026-01-01",
                "amount": "1.005",
            },
        )
        assert response.status_code == 422
        assert response.headers["content-type"] == "application/problem+json"

    def test_due_before_issue(self, api: TestClient) -> None:
        seed(api)
        response = api.post(
            "/api/v1/receivables",
            json={
                "external_id": "X",
                "customer_external_id": "C1",
                "issue_date": "2026-02-01",
                "due_date": "2026-01-01",
                "amount": "10.00",
            },
        )
        assert response.status_code == 422
        assert response.json()["errors"][0]["field"] == "due_date"


class TestTenantIsolation:
    def test_another_tenant_sees_nothing_and_gets_404(
        self, api: TestClient, other_api: TestClient
    ) -> None:
        ids = seed(api)
        receivable = api.get("/api/v1/receivables", params={"limit": 1}).json()["items"][0]
        assert other_api.get("/api/v1/customers").json()["total"] == 0
        assert other_api.get("/api/v1/receivables").json()["total"] == 0
        assert other_api.get(f"/api/v1/customers/{ids['customer_id']}").status_code == 404
        assert other_api.get(f"/api/v1/receivables/{receivable['id']}").status_code == 404
        assert (
            other_api.patch(
                f"/api/v1/customers/{ids['customer_id']}", json={"name": "Invasor"}
            ).status_code
            == 404
        )
        assert other_api.delete(f"/api/v1/customers/{ids['customer_id']}").status_code == 404
        assert (
            other_api.get(f"/api/v1/customers/{ids['customer_id']}/contact-points").status_code
            == 404
        )
        # A receivable of the other tenant's customer cannot be attached by external id.
        response = other_api.post(
            "/api/v1/receivables",
            json={
                "external_id": "Z",
                "customer_external_id": "C1",
                "issue_date": "2026-01-01",
                "due_date": "2026-02-01",
                "amount": "10.00",
            },
        )
        assert response.status_code == 422
        assert api.get(f"/api/v1/customers/{ids['customer_id']}").json()["name"] == "Maria da Silva"
