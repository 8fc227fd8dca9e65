"""The engine helpers on a real database."""

from __future__ import annotations

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from adimple.db.engine import autocommit_reads


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
