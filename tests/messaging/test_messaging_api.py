"""Templates, channels and tone terms over the API, on both databases."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from render_helpers import customer_with_debt
from sqlalchemy.orm import Session, sessionmaker

from adimple.messaging.render import clear_caches
from adimple.tenancy.models import Tenant
from adimple.tenancy.service import create_api_key
from adimple.web.app import create_app

SMS_OK = (
    "{{ cliente.primeiro_nome }}, {{ credor.nome }} (CNPJ {{ credor.documento }}): "
    "{{ total|brl }} em aberto. {{ portal_url }} {{ optout_instrucao }}"
)


@pytest.fixture
def api(
    session_maker: sessionmaker[Session], session: Session, tenant: Tenant
) -> Iterator[TestClient]:
    clear_caches()
    app = create_app()
    app.state.session_factory = session_maker
    _, token = create_api_key(session, tenant_id=tenant.id, name="tests")
    session.commit()
    with TestClient(app, headers={"Authorization": f"Bearer {token}"}) as client:
        yield client


class TestTemplatesApi:
    def test_lists_the_shipped_templates(self, api: TestClient) -> None:
        response = api.get("/api/v1/templates")
        assert response.status_code == 200
        names = {(t["name"], t["channel"]) for t in response.json()}
        assert ("aviso_negativacao", "letter") in names and len(names) == 14

    def test_get_put_and_versions(self, api: TestClient) -> None:
        shipped = api.get("/api/v1/templates/aviso_atraso/sms").json()
        assert shipped["source"] == "default" and shipped["version"] == 0
        saved = api.put("/api/v1/templates/aviso_atraso/sms", json={"body": SMS_OK})
        assert saved.status_code == 200, saved.text
        assert saved.json()["version"] == 1 and saved.json()["created_by"].startswith("api:")
        api.put("/api/v1/templates/aviso_atraso/sms", json={"body": SMS_OK + " Obrigado."})
        versions = api.get("/api/v1/templates/aviso_atraso/sms/versions").json()
        assert [v["version"] for v in versions] == [2, 1]
        assert api.get("/api/v1/templates/aviso_atraso/sms").json()["body"].endswith("Obrigado.")

    def test_a_threat_is_a_422_naming_the_line(self, api: TestClient) -> None:
        response = api.put(
            "/api/v1/templates/aviso_atraso/sms",
            json={"body": SMS_OK + "\nSeu nome será exposto."},
        )
        assert response.status_code == 422
        problem = response.json()
        assert response.headers["content-type"].startswith("application/problem+json")
        [error] = problem["errors"]
        assert error["line"] == 2 and error["field"] == "body"
        assert "seu nome será exposto" in error["reason"]

    def test_a_missing_element_is_a_422(self, api: TestClient) -> None:
        response = api.put(
            "/api/v1/templates/aviso_atraso/sms",
            json={"body": SMS_OK.replace("{{ portal_url }}", "")},
        )
        assert response.status_code == 422
        assert "endereço ausente" in response.json()["errors"][0]["reason"]

    def test_nul_characters_are_refused_not_a_500(self, api: TestClient) -> None:
        response = api.put("/api/v1/templates/aviso_atraso/sms", json={"body": SMS_OK + "\x00"})
        assert response.status_code == 422
        terms = api.put("/api/v1/messaging/tone-terms", json={"terms": ["ab\x00"]})
        assert terms.status_code == 422

    def test_unknown_template_is_404(self, api: TestClient) -> None:
        assert api.get("/api/v1/templates/nao_existe/sms").status_code == 404

    def test_preview_with_a_real_customer(
        self, api: TestClient, session: Session, tenant: Tenant
    ) -> None:
        customer, _ = customer_with_debt(session, tenant)
        session.commit()
        response = api.post(f"/api/v1/templates/aviso_atraso/sms/preview?customer_id={customer.id}")
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["sms"]["encoding"] == "gsm7" and body["sms"]["segments"] >= 1
        assert "Maria" in body["text"] and body["total"].count(".") == 1

    def test_preview_of_an_unknown_customer_is_404(self, api: TestClient) -> None:
        response = api.post(
            "/api/v1/templates/aviso_atraso/sms/preview"
            "?customer_id=00000000-0000-0000-0000-000000000000"
        )
        assert response.status_code == 404


class TestChannelsApi:
    def test_default_is_the_sandbox(self, api: TestClient) -> None:
        body = api.get("/api/v1/channels/whatsapp").json()
        assert body["provider"] == "sandbox" and body["source"] == "default"

    def test_secrets_are_write_only(self, api: TestClient) -> None:
        response = api.put(
            "/api/v1/channels/sms",
            json={
                "provider": "zenvia",
                "settings": {"sender": "loja"},
                "secrets": {"token": "segredo-zenvia"},
            },
        )
        assert response.status_code == 200, response.text
        assert "segredo-zenvia" not in response.text
        shown = api.get("/api/v1/channels/sms")
        assert shown.json()["secrets_set"] == ["token"] and "segredo-zenvia" not in shown.text

    def test_invalid_configuration_is_422(self, api: TestClient) -> None:
        response = api.put("/api/v1/channels/sms", json={"provider": "smtp", "settings": {}})
        assert response.status_code == 422


class TestToneTermsApi:
    def test_tenant_terms_apply_to_templates(self, api: TestClient) -> None:
        response = api.put("/api/v1/messaging/tone-terms", json={"terms": ["em aberto"]})
        assert response.status_code == 200 and response.json()["tenant_terms"] == ["em aberto"]
        assert "polícia" in response.json()["default_terms"]
        refused = api.put("/api/v1/templates/aviso_atraso/sms", json={"body": SMS_OK})
        assert refused.status_code == 422
