"""Runs the Alembic migrations shipped inside the package (``adimple db upgrade``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, inspect, text

from adimple.db.engine import get_engine

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).parent / "migrations"

# The newest migration's revision, so that every command can check the schema without Alembic
# parsing every migration file first (~0.15 s of each start). A new migration must update it;
# tests/db/test_migrations.py fails until it does.
HEAD_REVISION = "0019_due_case_customer"


def alembic_config(url: str | None = None) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("file_template", "%%(year)d_%%(month).2d_%%(day).2d_%%(rev)s_%%(slug)s")
    if url:
        cfg.set_main_option("sqlalchemy.url", url)
    return cfg


def upgrade(engine: Engine | None = None, revision: str = "head") -> None:
    """Upgrades the database to ``revision``; safe to run on every start (no-op when current)."""
    _migrate(engine or get_engine(), "upgrade", revision)


def downgrade(engine: Engine, revision: str) -> None:
    """Downgrades the database to ``revision`` (tests, and an operator undoing a release)."""
    _migrate(engine, "downgrade", revision)


def _migrate(engine: Engine, direction: str, revision: str) -> None:
    """Runs the migrations in one transaction.

    On SQLite, with foreign-key enforcement off, as SQLite's own procedure for changing a
    table asks (https://www.sqlite.org/lang_altertable.html#otheralter): batch mode copies a
    table and drops the old one, and with enforcement on, that drop runs the ``ON DELETE``
    actions of every table pointing at it. Migration 0014 deleted every outbox link that way,
    and 0016 also cleared the case of every task and bureau record. Instead, when a migration
    ran, the keys are checked (``PRAGMA foreign_key_check``) before the commit, and a dangling
    one rolls the whole run back. The pragma cannot change inside a transaction, so it is set
    on the driver's connection before the transaction begins.
    """
    from alembic import command
    from alembic.migration import MigrationContext

    cfg = alembic_config()
    with engine.connect() as connection:
        raw = connection.connection.dbapi_connection if engine.dialect.name == "sqlite" else None
        if raw is not None:
            raw.execute("PRAGMA foreign_keys=OFF")
        try:
            with connection.begin():
                cfg.attributes["connection"] = connection
                start = MigrationContext.configure(connection).get_current_revision()
                getattr(command, direction)(cfg, revision)
                end = MigrationContext.configure(connection).get_current_revision()
                # Only after a migration ran: the check reads every key of every table.
                if raw is not None and end != start:
                    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
                    if broken:
                        raise RuntimeError(
                            f"the migration would leave {len(broken)} rows with a foreign key "
                            f"to a missing row (table, rowid, parent, key): {broken[:5]}; "
                            "nothing was changed"
                        )
        finally:
            if raw is not None:
                raw.execute("PRAGMA foreign_keys=ON")


def current_revision(engine: Engine | None = None) -> str | None:
    """The database's revision (``None`` before the first migration), read from Alembic's
    own table without loading Alembic."""
    engine = engine or get_engine()
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        revisions = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    if len(revisions) > 1:  # branches: not this project's history, but say so plainly
        raise RuntimeError(f"the database has several Alembic heads: {sorted(revisions)}")
    return revisions[0] if revisions else None


def is_current(engine: Engine | None = None) -> bool:
    return current_revision(engine) == HEAD_REVISION
