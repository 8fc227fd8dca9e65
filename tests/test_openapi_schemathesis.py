"""Schemathesis against the app's own OpenAPI schema: no request, however odd, is a 5xx, and
every response matches the schema. Runs against a real SQLite database with a seeded tenant."""

from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from adimple.db.engine import make_engine, unit_of_work
from adimple.db.migrate import upgrade
from adimple.tenancy.service import create_api_key, create_tenant
from adimple.web.app import create_app


def _app_and_key(path: Path) -> tuple[object, str]:
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    with unit_of_work(engine) as session:
        tenant = create_tenant(
            session,
            slug="schema",
            legal_name="Credor Esquema Ltda",
            document="11.222.333/0001-81",
            address="Rua A, 1",
            city="São Paulo",
            uf="SP",
        )
        _, token = create_api_key(session, tenant_id=tenant.id, name="schemathesis")
    return create_app(engine), token


APP, TOKEN = _app_and_key(Path(__import__("tempfile").mkdtemp()) / "schema.db")
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@schema.parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_schema(case: schemathesis.Case) -> None:
    # Domain rules (CPF check digits, existing customers) are stricter than any schema, so a
    # schema-valid request may rightly get a 422; what must hold is below.
    case.call_and_validate(
        headers={"Authorization": f"Bearer {TOKEN}"},
        checks=[
            not_a_server_error,
            response_schema_conformance,
            content_type_conformance,
            status_code_conformance,
        ],
    )


def test_schema_lists_the_portfolio() -> None:
    paths = APP.openapi()["paths"]  # type: ignore[attr-defined]
    assert "/api/v1/receivables" in paths and "/api/v1/customers/bulk" in paths
    assert pytest is not None
