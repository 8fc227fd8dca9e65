"""Fixtures for the charges tests.

``charges_db`` is a real database session on SQLite and on PostgreSQL (migrated with the shipped
Alembic history), each test inside a transaction that is rolled back. PostgreSQL runs on a
throwaway database created on ``postgresql://postgres@127.0.0.1:5432`` and dropped at the end;
set ``ADIMPLE_TEST_POSTGRES_URL`` to use another server, and those tests are skipped when no
server answers.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from charges_helpers import synthetic_book
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session

from adimple.charges.indices import IndexBook
from adimple.db.engine import make_engine
from adimple.db.migrate import upgrade

POSTGRES_ADMIN_URL = os.environ.get(
    "ADIMPLE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


@pytest.fixture(scope="session")
def _sqlite_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    path: Path = tmp_path_factory.mktemp("charges-db") / "charges.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def _postgres_engine() -> Iterator[Engine]:
    name = f"adimple_charges_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # pragma: no cover - depends on the machine
        admin.dispose()
        pytest.skip(f"PostgreSQL not available: {type(exc).__name__}")
    url = admin.url.set(database=name)
    engine = make_engine(url.render_as_string(hide_password=False))
    try:
        upgrade(engine)
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def charges_engine(request: pytest.FixtureRequest) -> Engine:
    fixture = "_sqlite_engine" if request.param == "sqlite" else "_postgres_engine"
    engine: Engine = request.getfixturevalue(fixture)
    return engine


@pytest.fixture
def charges_db(charges_engine: Engine) -> Iterator[Session]:
    """A session inside an outer transaction that is rolled back after the test."""
    connection = charges_engine.connect()
    outer = connection.begin()
    session = Session(bind=connection, join_transaction_mode="create_savepoint")
    try:
        yield session
    finally:
        session.close()
        outer.rollback()
        connection.close()


@pytest.fixture
def flat_book() -> IndexBook:
    return synthetic_book()
