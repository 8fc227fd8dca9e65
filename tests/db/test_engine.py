"""The engine helpers on a real database."""

from __future__ import annotations

import psycopg
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from adimple.db import engine as engine_module
from adimple.db.engine import autocommit_reads, make_engine


def test_autocommit_reads_runs_each_statement_on_its_own_and_resets_the_connection(
    engine: Engine,
) -> None:
    with Session(engine) as session:
        autocommit_reads(session)
        assert session.execute(text("SELECT 1")).scalar() == 1
        if engine.dialect.name == "postgresql":
            # Outside a transaction now() is each statement's own time: no BEGIN was sent.
            first = session.execute(text("SELECT now()")).scalar()
            session.execute(text("SELECT pg_sleep(0.01)"))
            assert session.execute(text("SELECT now()")).scalar() != first
            assert session.connection().connection.dbapi_connection.autocommit is True  # type: ignore[union-attr]
    # The pooled connection goes back to transactions for the next checkout.
    with Session(engine) as session:
        session.execute(text("SELECT 1"))
        if engine.dialect.name == "postgresql":
            assert session.connection().connection.dbapi_connection.autocommit is False  # type: ignore[union-attr]
            started = session.execute(text("SELECT now()")).scalar()
            session.execute(text("SELECT pg_sleep(0.01)"))
            assert session.execute(text("SELECT now()")).scalar() == started


def test_autocommit_reads_leaves_a_callers_transaction_alone(session: Session) -> None:
    session.execute(text("SELECT 1"))
    autocommit_reads(session)  # bound to the tests' outer transaction: a no-op, not an error
    assert session.in_transaction()


def test_a_connection_idle_long_enough_is_pinged_and_replaced_when_dead(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("the pool's disconnect handling is PostgreSQL's")
    engine = make_engine(db_url, pool_size=1, max_overflow=0)
    pings: list[object] = []
    real_ping = engine.dialect.do_ping
    monkeypatch.setattr(engine.dialect, "do_ping", lambda c: pings.append(c) or real_ping(c))
    try:
        with engine.connect() as connection:
            first_pid = connection.execute(text("SELECT pg_backend_pid()")).scalar()
        with engine.connect() as connection:  # back in use at once: no ping
            assert connection.execute(text("SELECT pg_backend_pid()")).scalar() == first_pid
        assert pings == []
        # The database drops the connection while it sits idle in the pool …
        with psycopg.connect(_plain(db_url), autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (first_pid,))
        monkeypatch.setattr(engine_module, "PING_AFTER_IDLE_SECONDS", 0.0)
        # … and the next checkout pings it, finds it dead and hands out a fresh one.
        with engine.connect() as connection:
            pid = connection.execute(text("SELECT pg_backend_pid()")).scalar()
        assert pid != first_pid and len(pings) == 1
    finally:
        engine.dispose()


def _plain(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
