"""FastAPI dependencies: one database session per request, the caller's tenant from its API key."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from adimple.kit.errors import Unauthorized
from adimple.tenancy import service as tenancy
from adimple.tenancy.models import ApiKey, Tenant

_bearer = HTTPBearer(auto_error=False, description="API key: `Authorization: Bearer adk_…`")
_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="API key (alternative)")


def get_session(request: Request) -> Iterator[Session]:
    """The request's unit of work: committed when the handler returns, rolled back on error."""
    session: Session = request.app.state.session_factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


DbSession = Annotated[Session, Depends(get_session)]


def get_api_key(
    session: DbSession,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
    header: Annotated[str | None, Security(_header)],
) -> tuple[Tenant, ApiKey]:
    token = bearer.credentials if bearer else header
    if not token:
        raise Unauthorized("missing API key: send `Authorization: Bearer <key>`")
    return tenancy.authenticate_api_key(session, token)


def get_tenant(auth: Annotated[tuple[Tenant, ApiKey], Depends(get_api_key)]) -> Tenant:
    return auth[0]


def get_actor(auth: Annotated[tuple[Tenant, ApiKey], Depends(get_api_key)]) -> str:
    return f"api:{auth[1].prefix}"


CurrentTenant = Annotated[Tenant, Depends(get_tenant)]
CurrentActor = Annotated[str, Depends(get_actor)]
