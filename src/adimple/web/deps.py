"""FastAPI dependencies: one database session per request, the caller's tenant from its API key."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
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


# scope="function": the commit runs before the response is sent. With FastAPI's default
# ("request") it ran after: a client could read the 201 or follow the redirect before the
# write was visible — the portal's browser test, under load, found the login's session not yet
# committed on the next page — and a commit that failed came after a success was reported.
DbSession = Annotated[Session, Depends(get_session, scope="function")]


async def get_page_session(request: Request) -> AsyncIterator[Session]:
    """A session for a handler that ends its own transaction, in its worker thread.

    A sync generator dependency costs two more hand-offs to the thread pool per request (enter
    and exit) than the handler itself: a quarter of a portal page's framework time. Creating a
    session and closing it once its transaction has ended do no I/O, so they run here, on the
    event loop. (Should a handler leave a transaction open, ``close`` rolls it back.)
    """
    session: Session = request.app.state.session_factory()
    try:
        yield session
    finally:
        session.close()


PageSession = Annotated[Session, Depends(get_page_session)]


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
