"""Reconciliation API and PIX webhook on both databases: upload (201 then 200), files, review
queue with tenant isolation, resolve/ignore, and webhook idempotency by endToEndId."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from recon_helpers import Movement, cnab240, count, customer, no_charges_policy, receivable
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from adimple.payments.models import PixNotification, ReconciliationItem
from adimple.portfolio.models import Payment, Receivable, ReceivableStatus
from adimple.tenancy.models import Tenant
from adimple.tenancy.service import create_api_key, create_tenant
from adimple.web.app import create_app

D = Decimal
DUE = date(2026, 11, 10)
E2E = "E12345678202611161200abcdefABCDE"  # 32 characters


@pytest.fixture
def token(session: Session, tenant: Tenant) -> str:
    _, token = create_api_key(session, tenant_id=tenant.id, name="tests")
    return token


@pytest.fixture
def client(session_maker: sessionmaker[Session]) -> Iterator[TestClient]:
    app = create_app()
    app.state.session_factory = session_maker
    with TestClient(app) as client:
        yield client


@pytest.fixture
def seeded(session: Session, tenant: Tenant, token: str) -> dict[str, Receivable]:
    no_charges_policy(session, tenant.id)
    owner = customer(session, tenant.id)
    rows = {
        "T1": receivable(
            session,
            tenant.id,
            owner,
            external_id="T1",
            amount="100.00",
            due=DUE,
            nosso_numero="111",
            pix_txid="txidT1abcdefghijklmnopqrstu",
        ),
        "T2": receivable(
            session, tenant.id, owner, external_id="T2", amount="50.00", due=DUE, nosso_numero="222"
        ),
    }
    session.commit()
    return rows


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


FILE = cnab240("341", [Movement("111", paid="100.00"), Movement("999", paid="50.00")])


class TestCnabUpload:
    def test_new_then_already_imported(
        self, client: TestClient, token: str, seeded: dict[str, Receivable]
    ) -> None:
        url = "/api/v1/reconciliation/cnab?filename=ret-1116.ret"
        first = client.post(
            url, content=FILE, headers={**auth(token), "Content-Type": "application/octet-stream"}
        )
        assert first.status_code == 201, first.text
        body = first.json()
        assert body["file"] == "ret-1116.ret" and body["payments_created"] == 1
        assert body["review"] == 1 and body["already_imported"] is False
        again = client.post(
            "/api/v1/reconciliation/cnab",
            content=FILE,
            headers={**auth(token), "X-Filename": "copia.ret"},
        )
        assert again.status_code == 200
        assert again.json()["already_imported"] is True
        assert again.json()["first_imported_at"] is not None
        files = client.get("/api/v1/reconciliation/files", headers=auth(token)).json()
        assert files["total"] == 1 and files["items"][0]["filename"] == "ret-1116.ret"

    def test_unreadable_file_is_a_422_problem(
        self, client: TestClient, token: str, session: Session
    ) -> None:
        response = client.post(
            "/api/v1/reconciliation/cnab", content=b"hello\n", headers=auth(token)
        )
        assert response.status_code == 422
        assert response.headers["content-type"].startswith("application/problem+json")
        assert "not a CNAB retorno" in response.json()["detail"]

    def test_needs_an_api_key(self, client: TestClient) -> None:
        assert client.post("/api/v1/reconciliation/cnab", content=FILE).status_code == 401


class TestReviewQueue:
    def test_resolve_ignore_and_isolation(
        self, client: TestClient, token: str, seeded: dict[str, Receivable], session: Session
    ) -> None:
        client.post("/api/v1/reconciliation/cnab", content=FILE, headers=auth(token))
        queue = client.get("/api/v1/reconciliation/review?status=open", headers=auth(token))
        assert queue.status_code == 200 and queue.json()["total"] == 1
        item = queue.json()["items"][0]
        assert item["nosso_numero"] == "999" and item["amount"] == "50.00"
        assert item["reason"] == "unmatched" and item["status"] == "open"

        other = create_tenant(
            session,
            slug="outro-credor",
            legal_name="Outro Ltda",
            document="11.444.777/0001-61",
            address="Rua B, 2",
            city="Curitiba",
            uf="PR",
        )
        _, other_token = create_api_key(session, tenant_id=other.id, name="other")
        session.commit()
        url = f"/api/v1/reconciliation/review/{item['id']}"
        assert client.get(url, headers=auth(other_token)).status_code == 404
        stolen = client.post(
            f"{url}/resolve",
            headers=auth(other_token),
            json={"receivable_id": str(seeded["T2"].id)},
        )
        assert stolen.status_code == 404
        assert (
            client.post(f"{url}/ignore", headers=auth(other_token), json={"note": "x"}).status_code
            == 404
        )
        assert (
            client.get("/api/v1/reconciliation/review", headers=auth(other_token)).json()["total"]
            == 0
        )

        resolved = client.post(
            f"{url}/resolve",
            headers=auth(token),
            json={"receivable_id": str(seeded["T2"].id), "note": "ok"},
        )
        assert resolved.status_code == 200, resolved.text
        assert resolved.json()["status"] == "resolved" and resolved.json()["payment_id"]
        session.refresh(seeded["T2"])
        assert seeded["T2"].status == ReceivableStatus.PAID
        again = client.post(f"{url}/ignore", headers=auth(token), json={"note": "late"})
        assert again.status_code == 409
        assert client.get("/api/v1/reconciliation/review", headers=auth(token)).json()["total"] == 0
        done = client.get("/api/v1/reconciliation/review?status=resolved", headers=auth(token))
        assert done.json()["total"] == 1

    def test_resolve_to_another_tenants_receivable_is_404(
        self, client: TestClient, token: str, seeded: dict[str, Receivable], session: Session
    ) -> None:
        client.post("/api/v1/reconciliation/cnab", content=FILE, headers=auth(token))
        item = client.get("/api/v1/reconciliation/review", headers=auth(token)).json()["items"][0]
        other = create_tenant(
            session,
            slug="outro-credor",
            legal_name="Outro Ltda",
            document="11.444.777/0001-61",
            address="Rua B, 2",
            city="Curitiba",
            uf="PR",
        )
        foreign = receivable(
            session, other.id, customer(session, other.id), external_id="X", amount="50.00", due=DUE
        )
        session.commit()
        response = client.post(
            f"/api/v1/reconciliation/review/{item['id']}/resolve",
            headers=auth(token),
            json={"receivable_id": str(foreign.id)},
        )
        assert response.status_code == 404
        assert (
            client.get(f"/api/v1/reconciliation/review/{item['id']}", headers=auth(token)).json()[
                "status"
            ]
            == "open"
        )


def pix(
    e2e: str = E2E, txid: str | None = "txidT1abcdefghijklmnopqrstu", valor: str = "100.00"
) -> dict:
    item = {
        "endToEndId": e2e,
        "valor": valor,
        "horario": "2026-11-16T23:30:00.000-03:00",
        "infoPagador": "parcela 1",
        "chave": "financeiro@example.com",
    }
    if txid:
        item["txid"] = txid
    return {"pix": [item]}


class TestPixWebhook:
    def test_duplicate_delivery_is_one_payment(
        self,
        tenant: Tenant,
        client: TestClient,
        token: str,
        seeded: dict[str, Receivable],
        session: Session,
    ) -> None:
        url = f"/api/v1/webhooks/pix/{token}/pix"
        first = client.post(url, json=pix())
        assert first.status_code == 200, first.text
        assert first.json() == {"received": 1, "duplicates": 0, "payments_created": 1, "review": 0}
        second = client.post(f"/api/v1/webhooks/pix/{token}", json=pix())  # no "/pix" suffix
        assert second.json() == {"received": 1, "duplicates": 1, "payments_created": 0, "review": 0}
        payment = session.scalars(select(Payment).where(Payment.tenant_id == tenant.id)).one()
        assert payment.external_id == f"pix:{E2E}" and payment.source == "pix"
        # 23:30 in São Paulo is already the 17th in UTC: the payment date is the local one.
        assert payment.paid_on == date(2026, 11, 16)
        notification = session.scalars(
            select(PixNotification).where(PixNotification.tenant_id == tenant.id)
        ).one()
        assert notification.payment_id == payment.id
        assert notification.payer == {"infoPagador": "parcela 1"}
        session.refresh(seeded["T1"])
        assert seeded["T1"].status == ReceivableStatus.PAID

    def test_unknown_txid_goes_to_review(
        self,
        tenant: Tenant,
        client: TestClient,
        token: str,
        seeded: dict[str, Receivable],
        session: Session,
    ) -> None:
        body = {
            "pix": [
                pix(txid="naoexiste123")["pix"][0],
                pix(e2e="E" + "1" * 31, txid=None, valor="5.00")["pix"][0],
            ]
        }
        result = client.post(f"/api/v1/webhooks/pix/{token}/pix", json=body)
        assert result.json()["review"] == 2 and count(session, Payment, tenant.id) == 0
        items = client.get("/api/v1/reconciliation/review", headers=auth(token)).json()["items"]
        assert {i["source"] for i in items} == {"pix"}
        assert {i["txid"] for i in items} == {"naoexiste123", None}
        target = next(i for i in items if i["txid"] == "naoexiste123")
        resolved = client.post(
            f"/api/v1/reconciliation/review/{target['id']}/resolve",
            headers=auth(token),
            json={"receivable_id": str(seeded["T1"].id)},
        )
        assert resolved.status_code == 200
        notification = session.scalars(
            select(PixNotification)
            .where(PixNotification.tenant_id == tenant.id)
            .where(PixNotification.txid == "naoexiste123")
        ).one()
        session.refresh(notification)
        assert notification.payment_id is not None
        # A redelivery of the resolved Pix adds nothing.
        again = client.post(f"/api/v1/webhooks/pix/{token}/pix", json=pix(txid="naoexiste123"))
        assert (
            again.json()["duplicates"] == 1 and count(session, ReconciliationItem, tenant.id) == 2
        )

    @pytest.mark.parametrize(
        "body",
        [
            b"not json",
            b"[]",
            b'{"pix": {}}',
            b'{"pix": [{"valor": "1.00", "horario": "2026-11-16T10:00:00Z"}]}',
            b'{"pix": [{"endToEndId": "E1", "valor": "1,00", "horario": "2026-11-16T10:00:00Z"}]}',
            b'{"pix": [{"endToEndId": "E1", "valor": "0.00", "horario": "2026-11-16T10:00:00Z"}]}',
            b'{"pix": [{"endToEndId": "E1", "valor": "1.00", "horario": "ontem"}]}',
            b'{"pix": [{"endToEndId": "E1", "valor": "1.00", "horario": "2026-11-16T10:00:00"}]}',
            b'{"pix": [{"endToEndId": "E-1", "valor": "1.00", "horario": "2026-11-16T10:00:00Z"}]}',
        ],
    )
    def test_malformed_body_is_a_400_and_writes_nothing(
        self, tenant: Tenant, client: TestClient, token: str, body: bytes, session: Session
    ) -> None:
        response = client.post(
            f"/api/v1/webhooks/pix/{token}/pix",
            content=body,
            headers={"Content-Type": "application/json"},
        )
        assert response.status_code == 400, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        assert count(session, PixNotification, tenant.id) == 0

    def test_bad_token_is_401(self, client: TestClient) -> None:
        response = client.post("/api/v1/webhooks/pix/adk_nope_nope/pix", json=pix())
        assert response.status_code == 401


def test_payment_read_shows_the_imputation(
    client: TestClient, token: str, seeded: dict[str, Receivable]
) -> None:
    client.post("/api/v1/reconciliation/cnab", content=FILE, headers=auth(token))
    items = client.get("/api/v1/payments", headers=auth(token)).json()["items"]
    assert len(items) == 1
    payment = items[0]
    assert (payment["principal"], payment["charges"], payment["overpaid"]) == (
        "100.00",
        "0.00",
        "0.00",
    )
    assert payment["imputation"] == "bank" and payment["refund_status"] == "none"
