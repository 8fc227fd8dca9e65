"""Policy API (GET/PUT /policy, versions) on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from adimple.charges.api import router
from adimple.tenancy.models import Tenant
from adimple.web import problems
from adimple.web.deps import get_api_key


@pytest.fixture
def client(session_maker: sessionmaker[Session], tenant: Tenant) -> Iterator[TestClient]:
    app = FastAPI()
    app.state.session_factory = session_maker
    problems.install(app)
    app.include_router(router, prefix="/api/v1")
    app.dependency_overrides[get_api_key] = lambda: (tenant, SimpleNamespace(prefix="teste"))
    with TestClient(app) as test_client:
        yield test_client


class TestPolicyApi:
    def test_default_policy_before_any_save(self, client: TestClient) -> None:
        response = client.get("/api/v1/policy")
        assert response.status_code == 200
        body = response.json()
        assert body["version"] is None
        assert body["document"]["fine_percent"] == "2"
        assert body["document"]["interest"] == {"mode": "monthly_simple", "monthly_percent": "1"}

    def test_put_creates_versions(self, client: TestClient) -> None:
        first = client.put("/api/v1/policy", json={"grace_days": 5})
        assert first.status_code == 200, first.text
        assert first.json()["version"] == 1
        assert first.json()["created_by"] == "api:teste"
        second = client.put(
            "/api/v1/policy", json={"interest": {"mode": "legal"}, "correction": {"index": "none"}}
        )
        assert second.json()["version"] == 2
        assert any("taxa legal sem correção" in w for w in second.json()["warnings"])
        active = client.get("/api/v1/policy").json()
        assert active["version"] == 2 and active["document"]["interest"] == {"mode": "legal"}
        versions = client.get("/api/v1/policy/versions").json()
        assert [v["version"] for v in versions] == [2, 1]
        old = client.get("/api/v1/policy/versions/1").json()
        assert old["document"]["grace_days"] == 5
        assert client.get("/api/v1/policy/versions/9").status_code == 404

    def test_consumer_fine_cap_is_a_clear_422(self, client: TestClient) -> None:
        response = client.put("/api/v1/policy", json={"fine_percent": "5"})
        assert response.status_code == 422
        assert "CDC art. 52 §1º" in response.json()["detail"]
        assert client.get("/api/v1/policy/versions").json() == []

    def test_invalid_document_is_422(self, client: TestClient) -> None:
        response = client.put("/api/v1/policy", json={"grace_days": -1, "bogus": 1})
        assert response.status_code == 422
        fields = {e["field"] for e in response.json()["errors"]}
        assert {"grace_days", "bogus"} <= fields
