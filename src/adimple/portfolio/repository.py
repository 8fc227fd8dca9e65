"""Portfolio SQL: set-based staging and upserts for imports, and plain queries for the API.

Imports load the validated rows into a temporary staging table and then run a handful of
statements over it, so a million rows never pass through the ORM one by one.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import polars as pl
from sqlalchemy import BindParameter, Connection, Select, bindparam, select, text
from sqlalchemy.types import Uuid

from adimple.db.base import UTCDateTime
from adimple.db.dialect import (
    bulk_load,
    greatest_sql,
    is_postgres,
    json_object_sql,
    least_sql,
    new_uuid_sql,
    temp_table_sql,
)
from adimple.portfolio.models import Receivable, ReceivableStatus

STAGE = "import_stage"

# SQL types of the staged columns (the polars frame's names).
_STAGE_TYPES: dict[str, str] = {
    "_line": "BIGINT",
    "installment_number": "INTEGER",
    "installment_count": "INTEGER",
    "amount_cents": "BIGINT",
    "fees_cents": "BIGINT",
    "birth_date": "DATE",
    "issue_date": "DATE",
    "due_date": "DATE",
    "paid_on": "DATE",
    "credited_on": "DATE",
    "consumer": "BOOLEAN",
    "deceased": "BOOLEAN",
    "disputed": "BOOLEAN",
    "superendividamento": "BOOLEAN",
    "do_not_contact": "BOOLEAN",
}


@dataclass(frozen=True)
class Target:
    """How staged rows map onto a table: ``column -> SQL expression over the stage alias s``."""

    table: str
    entity_type: str
    mapping: dict[str, str]
    insert_defaults: dict[str, str] = field(default_factory=dict)
    compare_as_text: frozenset[str] = frozenset()
    # Extra assignments made when a row changes (not compared); may read the old row as ``t``.
    on_update: dict[str, str] = field(default_factory=dict)


@dataclass
class UpsertCounts:
    inserted: int = 0
    updated: int = 0


def _params(tenant_id: uuid.UUID, now: datetime) -> list[BindParameter[Any]]:
    return [bindparam("t", tenant_id, type_=Uuid()), bindparam("now", now, type_=UTCDateTime())]


base_params = _params  # ``:t`` (tenant) and ``:now`` for statements built elsewhere


def create_stage(
    conn: Connection,
    frame: pl.DataFrame,
    *,
    extra: Sequence[tuple[str, str]] = (),
    on_chunk: Callable[[int], None] | None = None,
) -> None:
    """Creates the staging table for this transaction and bulk-loads ``frame`` into it."""
    uuid_type = "UUID" if is_postgres(conn) else "CHAR(32)"
    columns: list[tuple[str, str]] = []
    for name, dtype in frame.schema.items():
        sql_type = _STAGE_TYPES.get(name, "TEXT")
        if dtype == pl.List(pl.Utf8):
            sql_type = "TEXT"
        columns.append((name, sql_type))
    columns += [(name, uuid_type if sql_type == "UUID" else sql_type) for name, sql_type in extra]
    conn.exec_driver_sql(f"DROP TABLE IF EXISTS {STAGE}")
    conn.exec_driver_sql(temp_table_sql(conn, STAGE, columns))
    bulk_load(conn, STAGE, frame, on_chunk=on_chunk)
    if is_postgres(conn):
        conn.exec_driver_sql(f"CREATE INDEX ON {STAGE} (external_id)")
        conn.exec_driver_sql(f"ANALYZE {STAGE}")


def drop_stage(conn: Connection) -> None:
    conn.exec_driver_sql(f"DROP TABLE IF EXISTS {STAGE}")


def delete_stage_lines(conn: Connection, lines: set[int]) -> None:
    if lines:
        conn.execute(
            text(f"DELETE FROM {STAGE} WHERE _line IN :lines").bindparams(
                bindparam("lines", sorted(lines), expanding=True)
            )
        )


def resolve_customers(conn: Connection, tenant_id: uuid.UUID, columns: frozenset[str]) -> None:
    """Sets ``customer_id`` on staged receivables from the customer's external id or document."""
    if "customer_external_id" in columns:
        conn.execute(
            text(
                f"UPDATE {STAGE} AS s SET customer_id = c.id FROM customer AS c "
                "WHERE c.tenant_id = :t AND c.external_id = s.customer_external_id"
            ).bindparams(bindparam("t", tenant_id, type_=Uuid()))
        )
    if "customer_document" in columns:
        conn.execute(
            text(
                f"UPDATE {STAGE} AS s SET customer_id = c.id FROM customer AS c "
                "WHERE s.customer_id IS NULL AND c.tenant_id = :t "
                "AND c.document = s.customer_document"
            ).bindparams(bindparam("t", tenant_id, type_=Uuid()))
        )


def unresolved_customers(conn: Connection, columns: frozenset[str]) -> list[tuple[int, str, str]]:
    """``(line, field, value)`` of staged receivables whose customer is unknown."""
    ext = "customer_external_id" if "customer_external_id" in columns else "NULL"
    doc = "customer_document" if "customer_document" in columns else "NULL"
    rows = conn.execute(
        text(f"SELECT _line, {ext}, {doc} FROM {STAGE} WHERE customer_id IS NULL ORDER BY _line")
    ).all()
    out: list[tuple[int, str, str]] = []
    for line, external, document in rows:
        if external is not None:
            out.append((line, "customer_external_id", external))
        else:
            out.append((line, "customer_document", document))
    return out


def resolve_receivables(conn: Connection, tenant_id: uuid.UUID) -> list[tuple[int, str]]:
    """Sets ``receivable_id``/``customer_id`` on staged payments; returns unknown references."""
    conn.execute(
        text(
            f"UPDATE {STAGE} AS s SET receivable_id = r.id, customer_id = r.customer_id "
            "FROM receivable AS r "
            "WHERE r.tenant_id = :t AND r.external_id = s.receivable_external_id"
        ).bindparams(bindparam("t", tenant_id, type_=Uuid()))
    )
    rows = conn.execute(
        text(
            f"SELECT _line, receivable_external_id FROM {STAGE} "
            "WHERE receivable_id IS NULL ORDER BY _line"
        )
    ).all()
    return [(int(line), str(ref)) for line, ref in rows]


def upsert(
    conn: Connection,
    target: Target,
    *,
    tenant_id: uuid.UUID,
    now: datetime,
    actor: str,
    source: str,
    extra_changed_lines: set[int] | None = None,
) -> UpsertCounts:
    """Audits, updates and inserts staged rows by ``(tenant_id, external_id)``.

    A row whose mapped values all equal the stored ones is left untouched, so importing the
    same file twice changes nothing (not even ``updated_at``).
    """
    table = target.table

    def stored(col: str) -> str:
        return f"CAST(t.{col} AS TEXT)" if col in target.compare_as_text else f"t.{col}"

    def staged(col: str) -> str:
        expr = target.mapping[col]
        return f"CAST({expr} AS TEXT)" if col in target.compare_as_text else expr

    diff = " OR ".join(
        f"{stored(c)} IS DISTINCT FROM {staged(c)}" for c in target.mapping if c != "external_id"
    )
    join = "t.tenant_id = :t AND t.external_id = s.external_id"
    changed = [c for c in target.mapping if c != "external_id"]
    data = json_object_sql(
        conn,
        [
            ("source", "CAST(:source AS TEXT)"),
            ("line", "s._line"),
            ("before", json_object_sql(conn, [(c, stored(c)) for c in changed])),
            ("after", json_object_sql(conn, [(c, staged(c)) for c in changed])),
        ],
    )
    uuid_sql = new_uuid_sql(conn)
    audit = text(
        "INSERT INTO audit_event (id, tenant_id, occurred_at, actor, action, entity_type, "
        f"entity_id, data) SELECT {uuid_sql}, :t, :now, CAST(:actor AS TEXT), "
        f"'{target.entity_type}.updated', '{target.entity_type}', t.id, {data} "
        f"FROM {STAGE} AS s JOIN {table} AS t ON {join} WHERE {diff}"
    ).bindparams(*_params(tenant_id, now), bindparam("actor", actor), bindparam("source", source))
    conn.execute(audit)

    if extra_changed_lines:
        # Rows changed outside the mapped columns (e.g. a new contact point) count as updated.
        changed_lines = {
            int(r[0])
            for r in conn.execute(
                text(
                    f"SELECT s._line FROM {STAGE} AS s JOIN {table} AS t ON {join} WHERE {diff}"
                ).bindparams(bindparam("t", tenant_id, type_=Uuid()))
            )
        }
        extra = len(extra_changed_lines - changed_lines)
    else:
        extra = 0

    assignments = ", ".join(
        [f"{c} = {target.mapping[c]}" for c in changed]
        + [f"{c} = {expr}" for c, expr in target.on_update.items()]
    )
    update = text(
        f"UPDATE {table} AS t SET {assignments}, updated_at = :now FROM {STAGE} AS s "
        f"WHERE {join} AND ({diff})"
    ).bindparams(*_params(tenant_id, now))
    updated = conn.execute(update).rowcount

    columns = {**target.insert_defaults, **target.mapping}
    insert = text(
        f"INSERT INTO {table} (id, tenant_id, created_at, updated_at, {', '.join(columns)}) "
        f"SELECT {uuid_sql}, :t, :now, :now, {', '.join(columns.values())} FROM {STAGE} AS s "
        f"WHERE NOT EXISTS (SELECT 1 FROM {table} AS t WHERE {join})"
    ).bindparams(*_params(tenant_id, now))
    inserted = conn.execute(insert).rowcount
    return UpsertCounts(inserted=inserted, updated=updated + extra)


def changed_customer_contacts(
    conn: Connection, tenant_id: uuid.UUID, kinds: dict[str, str], now: datetime
) -> int:
    """Adds the staged e-mails/phones/addresses each customer does not have yet.

    ``kinds`` maps a staged column to a contact kind. The first contact point of a kind is
    marked preferred. Returns how many contact points were added.
    """
    added = 0
    uuid_sql = new_uuid_sql(conn)
    false, true = ("false", "true") if is_postgres(conn) else ("0", "1")
    for column, kind in kinds.items():
        stmt = text(
            "INSERT INTO contact_point (id, tenant_id, customer_id, kind, value, owner, verified, "
            "preferred, created_at, updated_at) "
            f"SELECT {uuid_sql}, :t, c.id, '{kind}', s.{column}, 'debtor', {false}, "
            f"CASE WHEN EXISTS (SELECT 1 FROM contact_point AS o WHERE o.tenant_id = :t "
            f"AND o.customer_id = c.id AND o.kind = '{kind}') THEN {false} ELSE {true} END, "
            f":now, :now FROM {STAGE} AS s JOIN customer AS c "
            "ON c.tenant_id = :t AND c.external_id = s.external_id "
            f"WHERE s.{column} IS NOT NULL AND NOT EXISTS (SELECT 1 FROM contact_point AS cp "
            f"WHERE cp.tenant_id = :t AND cp.customer_id = c.id AND cp.kind = '{kind}' "
            f"AND cp.value = s.{column})"
        ).bindparams(*_params(tenant_id, now))
        added += conn.execute(stmt).rowcount
    return added


def new_contact_lines(conn: Connection, tenant_id: uuid.UUID, kinds: dict[str, str]) -> set[int]:
    """Lines of staged existing customers that bring a contact point not stored yet."""
    if not kinds:
        return set()
    conditions = " OR ".join(
        f"(s.{column} IS NOT NULL AND NOT EXISTS (SELECT 1 FROM contact_point AS cp "
        f"WHERE cp.tenant_id = :t AND cp.customer_id = c.id AND cp.kind = '{kind}' "
        f"AND cp.value = s.{column}))"
        for column, kind in kinds.items()
    )
    rows = conn.execute(
        text(
            f"SELECT s._line FROM {STAGE} AS s JOIN customer AS c "
            f"ON c.tenant_id = :t AND c.external_id = s.external_id WHERE {conditions}"
        ).bindparams(bindparam("t", tenant_id, type_=Uuid()))
    ).all()
    return {int(r[0]) for r in rows}


def recompute_balances(
    conn: Connection,
    tenant_id: uuid.UUID,
    now: datetime,
    *,
    ids_sql: str | None = None,
    receivable_ids: Sequence[uuid.UUID] | None = None,
) -> int:
    """Allocates imported payments, then sets balance = original − Σ principal − Σ discount
    (never below zero); status follows the payments.

    Only the receivables whose ids ``ids_sql`` selects (or that ``receivable_ids`` lists) are
    touched. A receivable with no payments keeps the status it was given (e.g. ``paid`` in a
    legacy load). Payments applied by ``payments.settlement`` keep their imputação; imported
    ones (imputation ``principal_only``) are allocated here, see :func:`allocate_imported`.
    """
    params: list[BindParameter[Any]] = list(_params(tenant_id, now))
    if receivable_ids is not None:
        if not receivable_ids:
            return 0
        ids_sql = ":ids"
        params.append(bindparam("ids", list(receivable_ids), type_=Uuid(), expanding=True))
    assert ids_sql is not None, "ids_sql or receivable_ids"
    allocate_imported(conn, ids_sql=ids_sql, params=params)
    applied = "x.applied"
    new_status = (
        "CASE WHEN r.status IN ('open', 'paid') AND x.payments > 0 THEN "
        f"CASE WHEN {applied} >= r.original_amount_cents THEN 'paid' ELSE 'open' END "
        "ELSE r.status END"
    )
    balance = (
        f"CASE WHEN ({new_status}) = 'open' "
        f"THEN {greatest_sql(conn, f'r.original_amount_cents - {applied}', '0')} "
        f"WHEN ({new_status}) = 'agreement' THEN r.balance_cents ELSE 0 END"
    )
    stmt = text(
        f"UPDATE receivable AS r SET status = {new_status}, balance_cents = {balance}, "
        "updated_at = :now FROM (SELECT r2.id AS id, COUNT(p.id) AS payments, "
        "COALESCE(SUM(p.principal_cents + p.discount_cents), 0) AS applied "
        "FROM receivable AS r2 LEFT JOIN payment AS p "
        "ON p.tenant_id = r2.tenant_id AND p.receivable_id = r2.id "
        f"WHERE r2.tenant_id = :t AND r2.id IN ({ids_sql}) "
        "GROUP BY r2.id) AS x "
        f"WHERE r.id = x.id AND (r.status <> ({new_status}) OR r.balance_cents <> ({balance}))"
    ).bindparams(*params)
    return conn.execute(stmt).rowcount


def closed_by_stage(conn: Connection, tenant_id: uuid.UUID) -> list[tuple[uuid.UUID, date]]:
    """Staged payments' receivables that are now closed (not open, or nothing left), with the
    latest staged payment date of each."""
    rows = conn.execute(
        text(
            f"SELECT r.id, MAX(s.paid_on) FROM {STAGE} AS s JOIN receivable AS r "
            "ON r.id = s.receivable_id WHERE r.tenant_id = :t "
            "AND (r.status <> 'open' OR r.balance_cents = 0) GROUP BY r.id"
        ).bindparams(bindparam("t", tenant_id, type_=Uuid()))
    ).all()
    return [
        (
            rid if isinstance(rid, uuid.UUID) else uuid.UUID(str(rid)),
            on if isinstance(on, date) else date.fromisoformat(str(on)),
        )
        for rid, on in rows
    ]


def allocate_imported(
    conn: Connection, *, ids_sql: str, params: Sequence[BindParameter[Any]]
) -> int:
    """Imputação of imported payments (CSV, API): their gross goes to principal, in payment
    order (paid_on, external_id), up to what the receivable's original amount leaves after the
    payments applied by ``payments.settlement``; the rest is an overpayment to refund
    (``refund_status = pending``, CDC art. 42 parágrafo único). Imports carry no breakdown of
    charges, so none is assumed. Rows whose allocation does not change are not touched.
    """
    before = (
        "COALESCE(SUM(p2.gross_cents) OVER (PARTITION BY p2.receivable_id "
        "ORDER BY p2.paid_on, p2.external_id "
        "ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0)"
    )
    room = f"(r.original_amount_cents - COALESCE(f.fixed, 0) - {before})"
    principal = greatest_sql(conn, least_sql(conn, "p2.gross_cents", room), "0")
    refund = (
        "CASE WHEN p.gross_cents - a.principal > 0 AND p.refund_status = 'none' THEN 'pending' "
        "WHEN p.gross_cents - a.principal = 0 AND p.refund_status = 'pending' THEN 'none' "
        "ELSE p.refund_status END"
    )
    stmt = text(
        f"UPDATE payment AS p SET principal_cents = a.principal, "
        f"overpaid_cents = p.gross_cents - a.principal, charges_cents = 0, discount_cents = 0, "
        f"refund_status = {refund}, updated_at = :now "
        f"FROM (SELECT p2.id AS id, {principal} AS principal "
        "FROM payment AS p2 JOIN receivable AS r ON r.id = p2.receivable_id "
        "LEFT JOIN (SELECT p3.receivable_id AS receivable_id, "
        "SUM(p3.principal_cents + p3.discount_cents) AS fixed FROM payment AS p3 "
        f"WHERE p3.tenant_id = :t AND p3.imputation <> 'principal_only' "
        f"AND p3.receivable_id IN ({ids_sql}) GROUP BY p3.receivable_id) AS f "
        "ON f.receivable_id = p2.receivable_id "
        f"WHERE p2.tenant_id = :t AND p2.imputation = 'principal_only' "
        f"AND p2.receivable_id IN ({ids_sql})) AS a "
        "WHERE p.id = a.id AND (p.principal_cents <> a.principal "
        "OR p.overpaid_cents <> p.gross_cents - a.principal "
        "OR p.charges_cents <> 0 OR p.discount_cents <> 0)"
    ).bindparams(*params)
    return conn.execute(stmt).rowcount


# --- queries for the API and the demo -------------------------------------------------------


def receivables_query(
    tenant_id: uuid.UUID,
    *,
    status: ReceivableStatus | None = None,
    due_from: date | None = None,
    due_to: date | None = None,
    overdue_on: date | None = None,
    customer_id: uuid.UUID | None = None,
) -> Select[Receivable]:
    query = select(Receivable).where(Receivable.tenant_id == tenant_id)
    if status is not None:
        query = query.where(Receivable.status == status)
    if due_from is not None:
        query = query.where(Receivable.due_date >= due_from)
    if due_to is not None:
        query = query.where(Receivable.due_date <= due_to)
    if overdue_on is not None:
        query = query.where(
            Receivable.status == ReceivableStatus.OPEN, Receivable.due_date < overdue_on
        )
    if customer_id is not None:
        query = query.where(Receivable.customer_id == customer_id)
    return query
