"""The application factory: one FastAPI app serves the JSON API, the console and the portal."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy import Engine

from adimple.db.engine import get_engine, session_factory
from adimple.web import problems


def create_app(engine: Engine | None = None) -> FastAPI:
    from adimple.cadence.api import router as cadence_router
    from adimple.charges.api import router as policy_router
    from adimple.messaging.api import router as templates_router
    from adimple.messaging.inbound_api import pages as messaging_pages
    from adimple.messaging.inbound_api import router as messaging_router
    from adimple.negotiation.api import router as agreements_router
    from adimple.payments.api import router as reconciliation_router
    from adimple.payments.billing.api import router as billing_router
    from adimple.portfolio.api import router as portfolio_router
    from adimple.web.portal.security import SecurityHeaders
    from adimple.web.portal.views import router as portal_router
    from adimple.web.portal.views import static_files as portal_static

    app = FastAPI(
        lifespan=_lifespan,
        title="Adimple API",
        version="1.0.0",
        description=(
            "Cobrança de inadimplentes: carteira (clientes, títulos, pagamentos), política de "
            "cobrança e mais. Authenticate with `Authorization: Bearer <API key>`; errors are "
            "RFC 9457 problem details."
        ),
    )
    app.state.session_factory = session_factory(engine or get_engine())
    problems.install(app)
    # The portal first: a request is matched against the routes in order, and the portal's
    # pages are the ones served at volume.
    app.mount("/portal/static", portal_static(), name="portal-static")
    app.include_router(portal_router)
    for router in (
        portfolio_router,
        policy_router,
        cadence_router,
        reconciliation_router,
        billing_router,
        messaging_router,
        templates_router,
        agreements_router,
    ):
        app.include_router(router, prefix="/api/v1", responses=problems.PROBLEM_RESPONSES)

    app.include_router(messaging_pages)
    app.add_middleware(SecurityHeaders)

    @app.get("/healthz", tags=["ops"], include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    # Everything loaded at start (modules, SQLAlchemy's mappers, OpenAPI models: ~250,000
    # objects) goes to the permanent generation, so that a full collection scans only what
    # requests created since: one took ~110 ms in a portal worker, a stall of every request in
    # flight on it (the p99 of issue 7). The gc module's documented use for servers. Once per
    # process (a test process starts many apps).
    if not gc.get_freeze_count():
        gc.collect()
        gc.freeze()
    yield
