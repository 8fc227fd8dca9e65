"""One migration history for both databases: it upgrades, matches the models and downgrades."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect
from sqlalchemy.engine import make_url

from adimple.db.engine import make_engine
from adimple.db.migrate import alembic_config, upgrade
from adimple.db.models import Base

POSTGRES_URL = os.environ.get(
    "ADIMPLE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


@pytest.fixture
def fresh_engine(db_url: str, tmp_path: Path) -> Iterator[Engine]:
    if db_url.startswith("sqlite"):
        engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
        yield engine
        engine.dispose()
        return
    name = f"adimple_mig_{uuid.uuid4().hex[:8]}"
    admin = make_url(POSTGRES_URL).set(drivername="postgresql").render_as_string(False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    engine = make_engine(make_url(POSTGRES_URL).set(database=name).render_as_string(False))
    yield engine
    engine.dispose()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_upgrade_matches_models_and_downgrades(fresh_engine: Engine) -> None:
    upgrade(fresh_engine)
    with fresh_engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata
        )
    assert diff == []
    upgrade(fresh_engine)  # idempotent
    cfg = alembic_config()
    with fresh_engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "base")
    assert set(inspect(fresh_engine).get_table_names()) <= {"alembic_version"}
    upgrade(fresh_engine)
    assert "receivable" in inspect(fresh_engine).get_table_names()
