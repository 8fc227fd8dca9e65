"""One migration history for both databases: it upgrades, matches the models and downgrades."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect

from adimple.db.migrate import HEAD_REVISION, alembic_config, current_revision, is_current, upgrade
from adimple.db.models import Base


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


def test_head_revision_constant_is_the_newest_migration() -> None:
    """Every command checks the schema against HEAD_REVISION: a new migration must update it."""
    assert ScriptDirectory.from_config(alembic_config()).get_heads() == [HEAD_REVISION]


def test_current_revision_before_and_after_upgrade(fresh_engine: Engine) -> None:
    assert current_revision(fresh_engine) is None
    assert not is_current(fresh_engine)
    upgrade(fresh_engine, "0012_receivable_due_customer")
    assert current_revision(fresh_engine) == "0012_receivable_due_customer"
    assert not is_current(fresh_engine)
    upgrade(fresh_engine)
    assert current_revision(fresh_engine) == HEAD_REVISION
    assert is_current(fresh_engine)


def _outbox_indexes(engine: Engine) -> dict[str, str]:
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            query = "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'outbox_message'"
        else:
            query = (
                "SELECT name, coalesce(sql, '') FROM sqlite_master "
                "WHERE type = 'index' AND tbl_name = 'outbox_message'"
            )
        return {name: definition for name, definition in conn.exec_driver_sql(query).all()}


def test_outbox_claim_and_provider_indexes_are_partial(fresh_engine: Engine) -> None:
    """0013: the claim index holds only claimable rows on PostgreSQL (SQLite cannot prove
    ``status = 'queued'`` implies the IN list, so it keeps the whole index), the provider index
    only rows with a provider id (both); a downgrade restores the full indexes."""
    upgrade(fresh_engine)
    indexes = _outbox_indexes(fresh_engine)
    postgres = fresh_engine.dialect.name == "postgresql"
    claim, provider = (
        indexes["ix_outbox_message_claim"],
        indexes["ix_outbox_message_provider_message"],
    )
    assert "provider_message_id IS NOT NULL" in provider
    if postgres:
        assert "WHERE" in claim and "'queued'" in claim and "'sending'" in claim
        # The claim names its status as a literal: even a generic plan of the prepared
        # statement (parameters unknown) can prove the index's predicate and use it.
        with fresh_engine.connect() as conn:
            conn.exec_driver_sql("SET plan_cache_mode = force_generic_plan")
            conn.exec_driver_sql("SET enable_seqscan = off")
            conn.exec_driver_sql(
                "PREPARE claim_queued(timestamptz, int) AS SELECT id FROM outbox_message "
                "WHERE status = 'queued' AND next_attempt_at <= $1 "
                "ORDER BY next_attempt_at LIMIT $2 FOR UPDATE SKIP LOCKED"
            )
            plan = "\n".join(
                row[0] for row in conn.exec_driver_sql("EXPLAIN EXECUTE claim_queued(now(), 100)")
            )
            assert "ix_outbox_message_claim" in plan
    else:
        assert "WHERE" not in claim.upper()
    cfg = alembic_config()
    with fresh_engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0012_receivable_due_customer")
    indexes = _outbox_indexes(fresh_engine)
    assert "WHERE" not in indexes["ix_outbox_message_claim"].upper()
    assert "WHERE" not in indexes["ix_outbox_message_provider_message"].upper()
    upgrade(fresh_engine)
    assert "IS NOT NULL" in _outbox_indexes(fresh_engine)["ix_outbox_message_provider_message"]
