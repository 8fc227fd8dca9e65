"""Shared fixtures: every database test runs on SQLite and on PostgreSQL.

PostgreSQL comes from ``ADIMPLE_TEST_POSTGRES_URL`` (default: the local server); a throwaway
database is created for the test session and dropped at the end. When the server cannot be
reached the PostgreSQL half is skipped with a warning, except in CI (``CI=true``) where it fails.
Each test runs inside a transaction that is rolled back, so tests never see each other's rows.
"""

from __future__ import annotations

import os
import uuid
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Connection, Engine
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from adimple.db.engine import make_engine
from adimple.db.migrate import upgrade

POSTGRES_URL = os.environ.get(
    "ADIMPLE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
ROOT = Path(__file__).resolve().parent.parent


def _admin_dsn() -> str:
    url = make_url(POSTGRES_URL).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session (and xdist worker)."""
    name = f"adimple_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    try:
        with psycopg.connect(_admin_dsn(), autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        message = f"PostgreSQL unreachable at {POSTGRES_URL}: {exc}"
        if IN_CI:
            pytest.fail(message, pytrace=False)
        warnings.warn(message + " — PostgreSQL tests skipped", stacklevel=1)
        pytest.skip(message)
    url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    yield url
    with psycopg.connect(_admin_dsn(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('db') / 'adimple.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def fresh_engine(db_url: str, tmp_path: Path) -> Iterator[Engine]:
    """An empty database of this test's own, with no schema yet (migration tests)."""
    if db_url.startswith("sqlite"):
        engine = make_engine(f"sqlite:///{tmp_path / 'fresh.db'}")
        yield engine
        engine.dispose()
        return
    name = f"adimple_fresh_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(_admin_dsn(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    engine = make_engine(make_url(POSTGRES_URL).set(database=name).render_as_string(False))
    yield engine
    engine.dispose()
    with psycopg.connect(_admin_dsn(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def connection(engine: Engine) -> Iterator[Connection]:
    with engine.connect() as conn:
        transaction = conn.begin()
        yield conn
        transaction.rollback()


@pytest.fixture
def session_maker(connection: Connection) -> sessionmaker[Session]:
    """Sessions whose commits are savepoints inside the test's rolled-back transaction."""
    return sessionmaker(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )


@pytest.fixture
def session(session_maker: sessionmaker[Session]) -> Iterator[Session]:
    with session_maker() as session:
        yield session


@pytest.fixture
def tenant(session: Session):  # type: ignore[no-untyped-def]
    from adimple.tenancy.service import create_tenant

    return create_tenant(
        session,
        slug=f"t-{uuid.uuid4().hex[:8]}",
        legal_name="Loja Exemplo Comércio Ltda",
        document="11.222.333/0001-81",
        address="Rua Augusta, 100",
        city="São Paulo",
        uf="SP",
        postal_code="01305000",
    )


@pytest.fixture
def cli_database(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Points the CLI at a database it may commit to: a new SQLite file, or the session's
    PostgreSQL database (rows stay apart there by tenant)."""
    from adimple.db import engine as engine_module
    from adimple.settings import get_settings

    url = f"sqlite:///{tmp_path / 'cli.db'}" if db_url.startswith("sqlite") else db_url
    monkeypatch.setenv("ADIMPLE_DATABASE_URL", url)
    get_settings.cache_clear()
    engine_module.get_engine.cache_clear()
    if not url.startswith("sqlite"):
        upgrade(make_engine(url))
    yield url
    engine_module.get_engine().dispose()
    get_settings.cache_clear()
    engine_module.get_engine.cache_clear()


@pytest.fixture
def use_keys(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], None]]:
    """Sets ``ADIMPLE_ENCRYPTION_KEYS`` for the test (call it again to change keys)."""
    from adimple.settings import get_settings

    def use(keys: str) -> None:
        monkeypatch.setenv("ADIMPLE_ENCRYPTION_KEYS", keys)
        get_settings.cache_clear()

    yield use
    get_settings.cache_clear()
