"""Billing API on both databases: settings (secret never returned), instructions, PDF, QR,
problem details and tenant isolation."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date

import pytest
from billing_helpers import ITAU, PIX, configure, customer, receivable
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from adimple.kit.crypto import generate_key
from adimple.payments.billing import service
from adimple.payments.boleto import decode as decode_boleto
from adimple.payments.pix import decode as decode_pix
from adimple.tenancy.service import create_api_key, create_tenant
from adimple.web.app import create_app

SETTINGS = {
    "boleto": ITAU,
    "pix": PIX,
    "psp": {"base_url": "https://psp.example", "client_id": "cid", "client_secret": "s3cr3t"},
}


def _client(session_maker: sessionmaker[Session], token: str) -> TestClient:
    app = create_app()
    app.state.session_factory = session_maker
    return TestClient(app, headers={"Authorization": f"Bearer {token}"})


@pytest.fixture
def api(session_maker: sessionmaker[Session], session: Session, tenant) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    _, token = create_api_key(session, tenant_id=tenant.id, name="tests")
    session.commit()
    with _client(session_maker, token) as client:
        yield client


@pytest.fixture
def other_api(session_maker: sessionmaker[Session], session: Session) -> Iterator[TestClient]:
    other = create_tenant(
        session,
        slug="outro-credor-billing",
        legal_name="Outro Credor S.A.",
        document="11.444.777/0001-61",
        address="Rua B, 2",
        city="Curitiba",
        uf="PR",
    )
    configure(session, other)
    _, token = create_api_key(session, tenant_id=other.id, name="other")
    session.commit()
    with _client(session_maker, token) as client:
        yield client


class TestSettings:
    def test_put_then_get_never_returns_the_secret(self, api: TestClient) -> None:
        assert api.get("/api/v1/billing/settings").json()["pix_mode"] is None
        saved = api.put("/api/v1/billing/settings", json=SETTINGS)
        assert saved.status_code == 200, saved.text
        read = api.get("/api/v1/billing/settings")
        assert read.json() == saved.json()
        assert "s3cr3t" not in read.text
        assert read.json()["psp"]["has_client_secret"] is True
        assert read.json()["pix_mode"] == "cobv"
        assert read.json()["boleto"]["nosso_numero_next"] == 1
        # Omitting the secret keeps it.
        without = {
            **SETTINGS,
            "psp": {k: v for k, v in SETTINGS["psp"].items() if k != "client_secret"},
        }
        kept = api.put("/api/v1/billing/settings", json=without)
        assert kept.status_code == 200 and kept.json()["psp"]["has_client_secret"] is True

    def test_an_unreadable_psp_secret_is_a_problem_naming_the_cause(
        self, api: TestClient, use_keys: Callable[[str], None]
    ) -> None:
        use_keys(generate_key())
        assert api.put("/api/v1/billing/settings", json=SETTINGS).status_code == 200
        use_keys(generate_key())  # the key the secret was stored with is gone
        read = api.get("/api/v1/billing/settings")
        assert read.status_code == 500
        assert read.headers["content-type"] == "application/problem+json"
        assert read.json()["title"] == "Credencial ilegível"
        assert "ADIMPLE_ENCRYPTION_KEYS" in read.json()["detail"]

    def test_invalid_settings_are_problem_details(self, api: TestClient) -> None:
        bad = api.put("/api/v1/billing/settings", json={"boleto": {"bank": "341", "agencia": "1"}})
        assert bad.status_code == 422
        assert bad.headers["content-type"] == "application/problem+json"
        assert "conta" in bad.json()["detail"]
        shape = api.put("/api/v1/billing/settings", json={"boleto": {"bank": "34"}})
        assert shape.status_code == 422 and shape.json()["errors"]


class TestReceivableRoutes:
    def test_instructions_pdf_and_qr(self, api: TestClient, session: Session, tenant) -> None:
        configure(session, tenant)
        row = receivable(session, tenant, customer(session, tenant), due=date(2026, 12, 10))
        session.commit()
        base = f"/api/v1/receivables/{row.id}"
        found = api.get(f"{base}/payment-instructions", params={"as_of": "2026-11-23"})
        assert found.status_code == 200, found.text
        data = found.json()
        assert data["amount"] == "1234.56" and data["due_date"] == "2026-12-10"
        assert str(decode_boleto(data["boleto"]["linha_digitavel"]).amount) == "1234.56"
        assert decode_pix(data["pix"]["br_code"]).txid == data["pix"]["txid"]
        pdf = api.get(f"{base}/boleto.pdf", params={"as_of": "2026-11-23"})
        assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
        assert pdf.content.startswith(b"%PDF")
        svg = api.get(f"{base}/pix-qr.svg", params={"as_of": "2026-11-23"})
        assert svg.status_code == 200 and svg.headers["content-type"] == "image/svg+xml"
        assert b"<svg" in svg.content
        # The same documents are reused by every route.
        again = api.get(f"{base}/payment-instructions", params={"as_of": "2026-11-23"}).json()
        assert again["boleto"]["barcode"] == data["boleto"]["barcode"]

    def test_other_tenant_gets_404(
        self, api: TestClient, other_api: TestClient, session: Session, tenant
    ) -> None:  # type: ignore[no-untyped-def]
        configure(session, tenant)
        row = receivable(session, tenant, customer(session, tenant), due=date(2026, 12, 10))
        session.commit()
        for path in ("payment-instructions", "boleto.pdf", "pix-qr.svg"):
            response = other_api.get(f"/api/v1/receivables/{row.id}/{path}")
            assert response.status_code == 404, (path, response.text)
            assert response.headers["content-type"] == "application/problem+json"

    def test_not_configured_is_409(self, api: TestClient, session: Session, tenant) -> None:
        row = receivable(session, tenant, customer(session, tenant), due=date(2026, 12, 10))
        session.commit()
        response = api.get(f"/api/v1/receivables/{row.id}/payment-instructions")
        assert response.status_code == 409
        assert "adimple billing settings" in response.json()["detail"]

    def test_pix_qr_without_pix_is_409(self, api: TestClient, session: Session, tenant) -> None:
        configure(session, tenant, pix=None)
        row = receivable(session, tenant, customer(session, tenant), due=date(2026, 12, 10))
        session.commit()
        response = api.get(f"/api/v1/receivables/{row.id}/pix-qr.svg")
        assert response.status_code == 409

    def test_requires_an_api_key(self, session_maker: sessionmaker[Session]) -> None:
        app = create_app()
        app.state.session_factory = session_maker
        with TestClient(app) as anonymous:
            assert anonymous.get("/api/v1/billing/settings").status_code == 401


class TestWebhookUrlSecret:
    def test_api_key_in_the_webhook_url_is_masked_and_kept(
        self, api: TestClient, session: Session, tenant
    ) -> None:
        url = "https://adimple.example/api/v1/webhooks/pix/adk_0a1b2c3d4e5f_S3cretPart-xyz"
        body = {**SETTINGS, "psp": {**SETTINGS["psp"], "webhook_url": url}}
        saved = api.put("/api/v1/billing/settings", json=body).json()
        masked = "https://adimple.example/api/v1/webhooks/pix/adk_0a1b2c3d4e5f_***"
        assert saved["psp"]["webhook_url"] == masked
        assert "S3cretPart" not in api.get("/api/v1/billing/settings").text
        # GET → PUT round trip keeps the real URL.
        again = api.put("/api/v1/billing/settings", json=saved | {"pix_mode": None})
        assert again.status_code == 422  # read-only fields are refused …
        edit = {k: saved[k] for k in ("boleto", "pix")}
        edit["psp"] = {k: v for k, v in saved["psp"].items() if k not in ("has_client_secret",)}
        kept = api.put("/api/v1/billing/settings", json=edit)
        assert kept.status_code == 200, kept.text
        assert kept.json()["psp"]["webhook_url"] == masked
        session.expire_all()
        stored = service.get_settings(session, tenant_id=tenant.id)
        assert stored is not None and stored.psp_webhook_url == url
