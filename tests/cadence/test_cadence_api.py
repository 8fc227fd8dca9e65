"""Cadence and segment API on SQLite and PostgreSQL: 201/200/422/404 and tenant isolation."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from types import SimpleNamespace

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from adimple.cadence import library
from adimple.cadence.api import router
from adimple.tenancy.models import Tenant
from adimple.tenancy.service import create_tenant
from adimple.web import problems
from adimple.web.deps import get_api_key

DOC = {
    "name": "padrao",
    "description": "Régua padrão de teste",
    "steps": [
        {"id": "aviso_d1", "offset_days": 1, "channels": ["email"], "template": "aviso_atraso"},
        {"id": "ligacao_d10", "offset_days": 10, "action": "task_call"},
        {"id": "aviso_bureau_d45", "offset_days": 45, "action": "bureau_notice"},
        {"id": "negativacao_d60", "offset_days": 60, "action": "bureau_activate"},
    ],
}


def _client(session_maker: sessionmaker[Session], tenant: Tenant) -> TestClient:
    app = FastAPI()
    app.state.session_factory = session_maker
    problems.install(app)
    app.include_router(router, prefix="/api/v1", responses=problems.PROBLEM_RESPONSES)
    app.dependency_overrides[get_api_key] = lambda: (tenant, SimpleNamespace(prefix="teste"))
    return TestClient(app)


@pytest.fixture
def client(session_maker: sessionmaker[Session], tenant: Tenant) -> Iterator[TestClient]:
    with _client(session_maker, tenant) as test_client:
        yield test_client


class TestCadenceApi:
    def test_put_201_then_200_then_new_version(self, client: TestClient) -> None:
        first = client.put("/api/v1/cadences/padrao", json=DOC)
        assert first.status_code == 201, first.text
        body = first.json()
        assert body["version"] == 1 and body["created_by"] == "api:teste"
        notice = body["document"]["steps"][2]
        assert notice["template"] == "aviso_negativacao"
        same = client.put("/api/v1/cadences/padrao", json=DOC)
        assert same.status_code == 200 and same.json()["version"] == 1
        # the normalised document read back is accepted as is, and changes nothing
        again = client.put("/api/v1/cadences/padrao", json=body["document"])
        assert again.status_code == 200
        changed = {
            **DOC,
            "steps": [*DOC["steps"][:1], {**DOC["steps"][1], "offset_days": 7}, *DOC["steps"][2:]],
        }
        second = client.put("/api/v1/cadences/padrao", json=changed)
        assert second.status_code == 201 and second.json()["version"] == 2

        current = client.get("/api/v1/cadences/padrao").json()
        assert current["version"] == 2 and current["current_version"] == 2
        old = client.get("/api/v1/cadences/padrao", params={"version": 1}).json()
        assert old["version"] == 1 and old["current_version"] == 2
        assert old["document"]["steps"][1]["offset_days"] == 10
        (row,) = client.get("/api/v1/cadences").json()
        assert row == {
            "name": "padrao",
            "description": "Régua padrão de teste",
            "current_version": 2,
            "versions": 2,
            "steps": 4,
        }

    def test_shape_errors_are_422_with_field_paths(self, client: TestClient) -> None:
        bad = {**DOC, "steps": [{"id": "x", "offset_days": 1, "action": "call", "foo": 1}]}
        response = client.put("/api/v1/cadences/padrao", json=bad)
        assert response.status_code == 422
        assert response.headers["content-type"].startswith("application/problem+json")
        errors = {e["field"]: e["reason"] for e in response.json()["errors"]}
        assert errors["steps.0.action"].startswith("unknown action 'call'; expected one of")
        assert "steps.0.foo" in errors

    def test_rule_errors_are_422_with_field_paths(self, client: TestClient) -> None:
        bad = {**DOC, "steps": [*DOC["steps"][:3], {**DOC["steps"][3], "offset_days": 50}]}
        response = client.put("/api/v1/cadences/padrao", json=bad)
        assert response.status_code == 422
        (error,) = response.json()["errors"]
        assert error["field"] == "steps.3.offset_days"
        assert "CDC art. 43 §2" in error["reason"]
        assert client.get("/api/v1/cadences").json() == []

    def test_name_must_match_the_url(self, client: TestClient) -> None:
        response = client.put("/api/v1/cadences/outra", json=DOC)
        assert response.status_code == 422
        assert response.json()["errors"][0]["field"] == "name"

    def test_404s(self, client: TestClient) -> None:
        assert client.get("/api/v1/cadences/nenhuma").status_code == 404
        client.put("/api/v1/cadences/padrao", json=DOC)
        missing = client.get("/api/v1/cadences/padrao", params={"version": 5})
        assert missing.status_code == 404
        assert missing.headers["content-type"].startswith("application/problem+json")

    def test_bad_name_in_url_is_422(self, client: TestClient) -> None:
        assert client.get("/api/v1/cadences/N%C3%A3o V%C3%A1lida").status_code == 422


class TestSegmentsApi:
    def test_get_and_put(self, client: TestClient, session: Session, tenant: Tenant) -> None:
        assert client.get("/api/v1/segments").json() == {"segments": []}
        library.install_defaults(session, tenant_id=tenant.id, actor="teste")
        session.commit()
        segments = client.get("/api/v1/segments").json()["segments"]
        assert segments[0]["kind"] == "preventive"
        fewer = [s for s in segments if s["kind"] != "never_paid"]
        response = client.put("/api/v1/segments", json={"segments": fewer})
        assert response.status_code == 200, response.text
        assert len(response.json()["segments"]) == len(segments) - 1

    def test_unknown_cadence_is_422(self, client: TestClient) -> None:
        body = {
            "segments": [
                {
                    "code": "p",
                    "name": "P",
                    "priority": 1,
                    "kind": "preventive",
                    "cadence": "preventiva",
                },
                {"code": "s", "name": "S", "priority": 2, "kind": "always", "cadence": "padrao"},
            ]
        }
        response = client.put("/api/v1/segments", json=body)
        assert response.status_code == 422
        fields = [e["field"] for e in response.json()["errors"]]
        assert fields == ["segments.0.cadence", "segments.1.cadence"]

    def test_rules_are_422(self, client: TestClient) -> None:
        body = {
            "segments": [
                {
                    "code": "s",
                    "name": "S",
                    "priority": 2,
                    "kind": "always",
                    "cadence": "padrao",
                    "params": {"x": 1},
                },
            ]
        }
        response = client.put("/api/v1/segments", json=body)
        assert response.status_code == 422
        fields = {e["field"] for e in response.json()["errors"]}
        assert {"segments.0.params.x", "segments"} <= fields


class TestTenantIsolation:
    def test_another_tenant_sees_nothing(
        self, client: TestClient, session_maker: sessionmaker[Session], session: Session
    ) -> None:
        assert client.put("/api/v1/cadences/padrao", json=DOC).status_code == 201
        other = create_tenant(
            session,
            slug=f"o-{uuid.uuid4().hex[:8]}",
            legal_name="Outro Credor Ltda",
            document="11.444.777/0001-61",
            address="Rua B, 2",
            city="Rio de Janeiro",
            uf="RJ",
        )
        session.commit()
        with _client(session_maker, other) as other_client:
            assert other_client.get("/api/v1/cadences").json() == []
            assert other_client.get("/api/v1/cadences/padrao").status_code == 404
            created = other_client.put("/api/v1/cadences/padrao", json=DOC)
            assert created.status_code == 201 and created.json()["version"] == 1
