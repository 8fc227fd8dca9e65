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


def test_a_round_trip_through_the_table_rebuilds_keeps_every_row(fresh_engine: Engine) -> None:
    """Down to 0013 and up again rebuilds the day's tables twice on SQLite (batch mode copies
    a table and drops the old one). With foreign keys enforced, each drop ran the ON DELETE
    actions of the tables pointing at it: outbox links deleted, the case of every task and
    bureau record cleared. ``migrate`` turns enforcement off around the migration and checks
    the keys itself; here every row and reference survives, on both databases."""
    from datetime import UTC, date, datetime

    from sqlalchemy import func, select
    from sqlalchemy.orm import Session

    from adimple.cadence.cycle import run_day
    from adimple.cadence.models import BureauStatus, CaseEvent, CollectionCase, CreditBureauRecord
    from adimple.db.migrate import downgrade
    from adimple.messaging.models import OutboxMessage, OutboxReceivable, Task
    from builders import (
        add_contact,
        install_standard_regua,
        make_customer,
        make_receivable,
        make_tenant,
    )

    upgrade(fresh_engine)
    with Session(fresh_engine, expire_on_commit=False) as session:
        tenant = make_tenant(session)
        install_standard_regua(session, tenant)
        customer = make_customer(session, tenant)
        add_contact(session, customer, "email", "devedor@example.com")
        receivable = make_receivable(session, customer, date(2026, 11, 23))
        session.commit()
    run_day(fresh_engine, tenant, date(2026, 11, 24))
    with Session(fresh_engine) as session:
        case_id = session.scalars(select(CollectionCase.id)).one()
        now = datetime.now(UTC)
        session.add(
            Task(
                tenant_id=tenant.id,
                customer_id=customer.id,
                case_id=case_id,
                kind="call",
                idempotency_key="test:task",
                due_on=date(2026, 11, 24),
                title="Ligar",
            )
        )
        session.add(
            CreditBureauRecord(
                tenant_id=tenant.id,
                customer_id=customer.id,
                receivable_id=receivable.id,
                case_id=case_id,
                status=BureauStatus.NOTICE_SENT,
                amount=receivable.balance,
                notice_sent_on=date(2026, 11, 24),
                eligible_on=date(2026, 12, 4),
                created_at=now,
                updated_at=now,
            )
        )
        session.commit()

    def state() -> dict[str, object]:
        with Session(fresh_engine) as session:
            return {
                "links": session.scalar(select(func.count()).select_from(OutboxReceivable)),
                "messages": session.scalar(
                    select(func.count()).where(OutboxMessage.case_id.is_not(None))
                ),
                "events": session.scalar(select(func.count()).select_from(CaseEvent)),
                "task cases": session.scalars(select(Task.case_id)).all(),
                "bureau cases": session.scalars(select(CreditBureauRecord.case_id)).all(),
            }

    before = state()
    assert before["links"] and before["messages"] and before["events"]
    assert before["task cases"] == [case_id] and before["bureau cases"] == [case_id]
    downgrade(fresh_engine, "0013_outbox_claim_index")
    upgrade(fresh_engine)
    assert state() == before


def test_a_sqlite_migration_that_would_leave_a_broken_key_changes_nothing(
    fresh_engine: Engine,
) -> None:
    """With enforcement off during a migration, the keys are checked before the commit: a
    row pointing at a missing row (here one written with enforcement off by hand) stops it."""
    import sqlite3
    import uuid

    import pytest

    if fresh_engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL enforces its keys inside the migration's transaction")
    upgrade(fresh_engine, "0015_case_event_by_case")
    path = fresh_engine.url.database
    assert path is not None
    with sqlite3.connect(path) as db:  # foreign keys are off by default in a bare connection
        db.execute(
            "INSERT INTO task (id, tenant_id, customer_id, kind, status, idempotency_key, "
            "due_on, priority, title, data, created_at, updated_at) VALUES "
            "(?, ?, ?, 'call', 'open', 'k', '2026-11-24', 0, 't', '{}', "
            "'2026-11-24 00:00:00', '2026-11-24 00:00:00')",
            (uuid.uuid4().hex, uuid.uuid4().hex, uuid.uuid4().hex),
        )
    with pytest.raises(RuntimeError, match=r"foreign key to a missing row.*task"):
        upgrade(fresh_engine)
    assert current_revision(fresh_engine) == "0015_case_event_by_case"
