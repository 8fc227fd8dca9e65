"""``dialect.insert_rows`` / ``update_rows``: the bulk writes of the daily cycle, on SQLite and
PostgreSQL (one statement over ``unnest`` of one array per column there)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from adimple.db.dialect import insert_rows, update_rows, uuid_batch, uuid_in, uuid_param
from adimple.messaging.models import Task, TaskKind, TaskStatus
from adimple.portfolio.models import Customer, Receivable, ReceivableStatus
from adimple.tenancy.models import Tenant
from builders import make_customer, make_receivable


def test_update_rows_sets_only_the_given_columns(session: Session, tenant: Tenant) -> None:
    customer = make_customer(session, tenant)
    first = make_receivable(session, customer, date(2026, 10, 1), "100.00", description="a")
    second = make_receivable(session, customer, date(2026, 10, 2), "200.00", description="b")
    untouched = make_receivable(session, customer, date(2026, 10, 3), "300.00", description="c")
    conn = session.connection()
    table = Receivable.__table__
    update_rows(
        conn,
        table,
        [
            {"id": first.id, "balance_cents": Decimal("0.00"), "status": ReceivableStatus.PAID},
            {"id": second.id, "balance_cents": Decimal("12.34"), "status": "open"},
        ],
    )
    update_rows(conn, table, [])  # nothing to do
    session.expire_all()
    rows = {
        r.id: (r.balance, r.status, r.description, r.due_date)
        for r in session.scalars(select(Receivable).where(Receivable.customer_id == customer.id))
    }
    assert rows == {
        first.id: (Decimal("0.00"), ReceivableStatus.PAID, "a", date(2026, 10, 1)),
        second.id: (Decimal("12.34"), ReceivableStatus.OPEN, "b", date(2026, 10, 2)),
        untouched.id: (Decimal("300.00"), ReceivableStatus.OPEN, "c", date(2026, 10, 3)),
    }


def test_update_rows_keeps_the_current_value_where_asked_and_given_none(
    session: Session, tenant: Tenant
) -> None:
    """The cycle's case update: one statement for cases that took a step today (new
    last step) and cases that did not (a None keeps what the row has)."""
    customer = make_customer(session, tenant)
    stepped = make_receivable(session, customer, date(2026, 10, 1), "100.00", description="a")
    waiting = make_receivable(session, customer, date(2026, 10, 2), "200.00", description="b")
    update_rows(
        session.connection(),
        Receivable.__table__,
        [
            {"id": stepped.id, "balance_cents": Decimal("1.00"), "description": "new"},
            {"id": waiting.id, "balance_cents": Decimal("2.00"), "description": None},
        ],
        keep_when_null=("description",),
    )
    session.expire_all()
    rows = {
        r.id: (r.balance, r.description)
        for r in session.scalars(select(Receivable).where(Receivable.customer_id == customer.id))
    }
    assert rows == {
        stepped.id: (Decimal("1.00"), "new"),
        waiting.id: (Decimal("2.00"), "b"),
    }


def test_insert_rows_skips_conflicts_and_returns_what_it_inserted(
    session: Session, tenant: Tenant
) -> None:
    customer = make_customer(session, tenant)
    existing = make_receivable(session, customer, date(2026, 10, 1), external_id="T1")
    new = make_receivable(session, customer, date(2026, 10, 2), external_id="T0")
    values = {
        "tenant_id": tenant.id,
        "customer_id": customer.id,
        "issue_date": date(2026, 9, 1),
        "due_date": date(2026, 10, 5),
        "original_amount_cents": Decimal("10.00"),
        "balance_cents": Decimal("10.00"),
        "status": "open",
    }
    session.delete(new)
    session.flush()
    table = Receivable.__table__
    rows = [
        {"id": existing.id, "external_id": "T1", **values},  # same id: skipped
        {"id": new.id, "external_id": "T2", **values},
    ]
    inserted = insert_rows(session.connection(), table, rows, returning_ids=True)
    assert {str(i).replace("-", "") for i in inserted} == {new.id.hex}
    session.expire_all()
    assert session.get(Receivable, new.id).external_id == "T2"


def test_insert_rows_keeps_every_kind_of_value_intact(session: Session, tenant: Tenant) -> None:
    """What the arrays carry comes back as it went: text that array literals would have to
    quote, JSON, enum members, a column that is None in every row, times with their zone,
    and the columns left out take their defaults."""
    customer = make_customer(session, tenant)
    moment = datetime(2026, 11, 24, 11, 30, tzinfo=UTC)
    tricky = 'aspas " vírgula, chaves {x} barra \\ NULL'
    rows = [
        {
            "id": uuid.uuid4(),
            "tenant_id": tenant.id,
            "customer_id": customer.id,
            "case_id": None,
            "kind": TaskKind.CALL,
            "idempotency_key": f"k{n}",
            "due_on": date(2026, 11, 24),
            "title": title,
            "notes": None,
            "data": data,
            "completed_at": moment if n else None,
            "created_at": moment,
            "updated_at": moment,
        }
        for n, (title, data) in enumerate(
            [(tricky, {"ids": ["T1", "T2"], "nota": "ação"}), ("NULL", {}), ("", {"n": 1.5})]
        )
    ]
    insert_rows(session.connection(), Task.__table__, rows)
    session.expire_all()
    found = {
        t.idempotency_key: t
        for t in session.scalars(select(Task).where(Task.customer_id == customer.id))
    }
    assert [found[f"k{n}"].title for n in range(3)] == [tricky, "NULL", ""]
    assert [found[f"k{n}"].data for n in range(3)] == [r["data"] for r in rows]
    assert [found[f"k{n}"].completed_at for n in range(3)] == [None, moment, moment]
    assert {(t.kind, t.status, t.priority, t.case_id, t.notes) for t in found.values()} == {
        (TaskKind.CALL, TaskStatus.OPEN, 0, None, None)
    }


def test_a_uuid_batch_serves_several_statements(session: Session, tenant: Tenant) -> None:
    """One conversion of the ids, used by ``uuid_in`` and by a textual ``uuid_param``."""
    customers = [make_customer(session, tenant) for _ in range(3)]
    session.flush()
    conn = session.connection()
    wanted = [customers[0].id, customers[2].id, customers[0].id]
    batch = uuid_batch(conn, wanted)
    found = set(session.scalars(select(Customer.id).where(uuid_in(conn, Customer.id, batch))))
    assert found == {customers[0].id, customers[2].id}
    column = "id = ANY(:ids)" if conn.dialect.name == "postgresql" else "id IN :ids"
    statement = text(f"SELECT count(*) FROM customer WHERE {column}").bindparams(
        uuid_param(conn, "ids")
    )
    assert conn.execute(statement, {"ids": batch}).scalar_one() == 2
    none = uuid_batch(conn, [])
    assert list(session.scalars(select(Customer.id).where(uuid_in(conn, Customer.id, none)))) == []


def test_a_single_row_and_values_shared_by_every_row(session: Session, tenant: Tenant) -> None:
    """On PostgreSQL a column with one value in every row goes as a scalar, not an array
    (only the first column must stay an array): one row, and an update setting the same
    money, enum and text everywhere, land as they would one by one."""
    customer = make_customer(session, tenant)
    moment = datetime(2026, 11, 24, 11, 30, tzinfo=UTC)
    conn = session.connection()
    row = {
        "id": uuid.uuid4(),
        "tenant_id": tenant.id,
        "customer_id": customer.id,
        "kind": TaskKind.CALL,
        "idempotency_key": "only",
        "due_on": date(2026, 11, 24),
        "title": "Ligar",
        "data": {"a": [1, 2]},
        "created_at": moment,
        "updated_at": moment,
    }
    assert insert_rows(conn, Task.__table__, [row], returning_ids=True) == {row["id"]}
    receivables = [
        make_receivable(session, customer, date(2026, 10, d), "100.00", description=str(d))
        for d in (1, 2, 3)
    ]
    update_rows(
        conn,
        Receivable.__table__,
        [
            {"id": r.id, "balance_cents": Decimal("7.50"), "status": "paid", "description": "x"}
            for r in receivables
        ],
    )
    session.expire_all()
    task = session.scalars(select(Task).where(Task.idempotency_key == "only")).one()
    assert (task.kind, task.title, task.data, task.created_at, task.status) == (
        TaskKind.CALL,
        "Ligar",
        {"a": [1, 2]},
        moment,
        TaskStatus.OPEN,
    )
    assert {
        (r.balance, r.status, r.description)
        for r in session.scalars(select(Receivable).where(Receivable.customer_id == customer.id))
    } == {(Decimal("7.50"), ReceivableStatus.PAID, "x")}


def test_binary_uuid_arrays_carry_nulls_and_text_ids(session: Session) -> None:
    """:class:`UuidArray` writes ``uuid[]`` in PostgreSQL's binary form itself."""
    conn = session.connection()
    if conn.dialect.name != "postgresql":
        pytest.skip("SQLite takes plain lists")
    ids = [uuid.uuid4(), None, uuid.uuid4(), str(uuid.uuid4())]
    got = conn.exec_driver_sql("SELECT %(a)s::uuid[]", {"a": uuid_batch(conn, ids)}).scalar_one()
    assert got == [ids[0], None, ids[2], uuid.UUID(str(ids[3]))]
    empty = conn.exec_driver_sql("SELECT cardinality(%(a)s)", {"a": uuid_batch(conn, [])})
    assert empty.scalar_one() == 0
