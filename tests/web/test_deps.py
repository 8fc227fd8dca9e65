"""The request's unit of work ends before its response leaves: a client that acts on the
response (follows a redirect, reads what it just created) finds the write there."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import sessionmaker

from adimple.db.engine import READ_ONLY_OPTION
from adimple.tenancy.models import Tenant
from adimple.web.deps import DbSession
from builders import make_tenant


def test_the_commit_comes_before_the_response(engine: Engine) -> None:
    factory = sessionmaker(bind=engine, expire_on_commit=False)
    with factory() as session:
        tenant = make_tenant(session, "deps", legal_name="Antes Ltda")
        session.commit()
        tenant_id = tenant.id

    app = FastAPI()
    app.state.session_factory = factory

    @app.post("/rename")
    def rename(session: DbSession) -> dict[str, str]:
        session.execute(
            text("UPDATE tenant SET legal_name = 'Depois Ltda' WHERE id = :id").bindparams(
                id=tenant_id.hex if engine.dialect.name == "sqlite" else tenant_id
            )
        )
        return {"ok": "yes"}

    seen: list[str] = []

    def committed_name() -> str:
        # A reader (on SQLite, without the write lock the request still holds).
        with engine.connect().execution_options(**{READ_ONLY_OPTION: True}) as other:
            return str(other.scalar(select(Tenant.legal_name).where(Tenant.id == tenant_id)))

    async def watching(scope: Any, receive: Any, send: Any) -> None:
        async def send_and_look(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                seen.append(committed_name())  # what another connection sees right now
            await send(message)

        await app(scope, receive, send_and_look)

    with TestClient(watching) as client:  # type: ignore[arg-type]
        assert client.post("/rename").status_code == 200
    assert seen == ["Depois Ltda"]
