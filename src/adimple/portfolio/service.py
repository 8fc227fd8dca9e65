"""Portfolio services: imports (files and API bulk upserts) and single-record operations.

Functions take the session first and the tenant explicitly; they flush, never commit.
"""

from __future__ import annotations

import csv
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import polars as pl
from pydantic import BaseModel
from sqlalchemy import Connection, Select, bindparam, delete, func, select
from sqlalchemy.orm import Session
from sqlalchemy.types import Uuid

from adimple.audit import service as audit
from adimple.db.dialect import json_cast_sql
from adimple.kit.errors import Conflict, FieldError, NotFound, ValidationFailed
from adimple.portfolio import repository
from adimple.portfolio import validation as rules
from adimple.portfolio.import_file import LINE, ImportKind, Validated, canonicalize, validate
from adimple.portfolio.models import (
    ContactKind,
    ContactPoint,
    Customer,
    Payment,
    Receivable,
    ReceivableStatus,
)
from adimple.portfolio.repository import Target

M = TypeVar("M", Customer, Receivable, Payment)

Progress = Callable[[str, int, int], None]
"""``progress(stage, done, total)``: called as rows are staged (for a progress bar)."""

CONTACT_COLUMNS = {"email": "email", "phone": "phone", "address": "address"}


@dataclass
class ImportResult:
    kind: ImportKind
    source: str
    total: int
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    contact_points_added: int = 0
    errors: list[FieldError] = field(default_factory=list)

    def summary(self) -> dict[str, object]:
        return {
            "kind": self.kind.value,
            "source": self.source,
            "rows": self.total,
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "rejected": self.rejected,
        }


def _targets(kind: ImportKind, columns: frozenset[str], conn: Connection) -> Target:
    """Which table columns a staged file sets; absent file columns keep stored values."""
    if kind is ImportKind.CUSTOMERS:
        mapping = {"external_id": "s.external_id"}
        for col in ("document", "document_kind", "name", "birth_date", "uf", "municipality"):
            if col in columns:
                mapping[col] = f"s.{col}"
        for flag in ("consumer", "deceased", "disputed", "superendividamento", "do_not_contact"):
            if flag in columns:
                mapping[flag] = f"s.{flag}"
        if "tags" in columns:
            mapping["tags"] = json_cast_sql(conn, "s.tags")
        defaults = {
            "tags": json_cast_sql(conn, "'[]'"),
            **{
                f: "false"
                for f in (
                    "consumer",
                    "deceased",
                    "disputed",
                    "superendividamento",
                    "do_not_contact",
                )
            },
        }
        return Target(
            table="customer",
            entity_type="customer",
            mapping=mapping,
            insert_defaults=defaults,
            compare_as_text=frozenset({"tags"}),
        )
    if kind is ImportKind.RECEIVABLES:
        mapping = {"external_id": "s.external_id", "customer_id": "s.customer_id"}
        for col in (
            "contract",
            "installment_number",
            "installment_count",
            "issue_date",
            "due_date",
            "nosso_numero",
            "description",
        ):
            if col in columns:
                mapping[col] = f"s.{col}"
        mapping["original_amount_cents"] = "s.amount_cents"
        closed = "s.status IN ('paid', 'cancelled', 'written_off')"
        if "status" in columns:
            mapping["status"] = "COALESCE(s.status, 'open')"
        defaults = {
            "status": "'open'",
            "balance_cents": (
                f"CASE WHEN {closed} THEN 0 ELSE s.amount_cents END"
                if "status" in columns
                else "s.amount_cents"
            ),
        }
        # The amount already paid (original − balance) is kept when the amount changes;
        # closing statuses zero the balance. t = the row before the update.
        new_status = mapping.get("status", "t.status")
        paid_so_far = "(t.original_amount_cents - t.balance_cents)"
        on_update = {
            "balance_cents": (
                f"CASE WHEN {new_status} IN ('paid', 'cancelled', 'written_off') THEN 0 "
                f"WHEN {new_status} = 'open' AND s.amount_cents > {paid_so_far} "
                f"THEN s.amount_cents - {paid_so_far} "
                f"WHEN {new_status} = 'open' THEN 0 ELSE t.balance_cents END"
            )
        }
        return Target(
            table="receivable",
            entity_type="receivable",
            mapping=mapping,
            insert_defaults=defaults,
            on_update=on_update,
        )
    mapping = {
        "external_id": "s.external_id",
        "receivable_id": "s.receivable_id",
        "customer_id": "s.customer_id",
        "gross_cents": "s.amount_cents",
        "paid_on": "s.paid_on",
    }
    if "fees_cents" in columns:
        mapping["fees_cents"] = "COALESCE(s.fees_cents, 0)"
        mapping["net_cents"] = "s.amount_cents - COALESCE(s.fees_cents, 0)"
    if "credited_on" in columns:
        mapping["credited_on"] = "s.credited_on"
    if "source" in columns:
        mapping["source"] = "COALESCE(s.source, 'import')"
    defaults = {
        "source": "'import'",
        "fees_cents": "0",
        "net_cents": "s.amount_cents",
        "details": json_cast_sql(conn, "'{}'"),
    }
    # A payment whose amount an import changes is allocated again as an imported one
    # (repository.allocate_imported): the file carries no breakdown of charges.
    on_update = {"imputation": "'principal_only'"}
    return Target(
        table="payment",
        entity_type="payment",
        mapping=mapping,
        insert_defaults=defaults,
        on_update=on_update,
    )


def _stage_frame(kind: ImportKind, frame: pl.DataFrame) -> pl.DataFrame:
    if "tags" in frame.columns:
        frame = frame.with_columns(
            pl.col("tags")
            .map_elements(lambda v: json.dumps(list(v), ensure_ascii=False), return_dtype=pl.Utf8)
            .fill_null("[]")
        )
    return frame


def import_validated(
    session: Session,
    *,
    tenant_id: uuid.UUID,
    kind: ImportKind,
    validated: Validated,
    source: str,
    actor: str,
    partial: bool = False,
    progress: Progress | None = None,
) -> ImportResult:
    """Upserts validated rows by ``(tenant, external_id)`` in the session's transaction.

    All-or-nothing unless ``partial``: any invalid row raises ``ValidationFailed`` listing every
    error and nothing is written. With ``partial`` the valid rows are written and the invalid
    ones are reported in ``result.errors`` (one or more per rejected line).
    """
    frame = validated.frame
    errors = list(validated.errors)
    if kind is ImportKind.PAYMENTS and {"fees_cents", "amount_cents"} <= set(frame.columns):
        bad = frame.filter(pl.col("fees_cents") > pl.col("amount_cents"))
        errors += [
            FieldError("fees", "fees are greater than the amount paid", line, source)
            for line in bad.get_column(LINE).to_list()
        ]
    result = ImportResult(kind=kind, source=source, total=frame.height)
    bad_lines = {e.line for e in errors if e.line is not None}
    if bad_lines:
        frame = frame.filter(~pl.col(LINE).is_in(sorted(bad_lines)))

    conn = session.connection()
    extra: list[tuple[str, str]] = []
    if kind is ImportKind.RECEIVABLES:
        extra = [("customer_id", "UUID")]
    elif kind is ImportKind.PAYMENTS:
        extra = [("receivable_id", "UUID"), ("customer_id", "UUID")]
    done = 0

    def on_chunk(rows: int) -> None:
        nonlocal done
        done += rows
        if progress:
            progress("staging", done, frame.height)

    repository.create_stage(conn, _stage_frame(kind, frame), extra=extra, on_chunk=on_chunk)
    db_errors: list[FieldError] = []
    if kind is ImportKind.RECEIVABLES:
        repository.resolve_customers(conn, tenant_id, validated.columns)
        for line, fld, value in repository.unresolved_customers(conn, validated.columns):
            db_errors.append(FieldError(fld, f"customer '{value}' not found", line, source))
    elif kind is ImportKind.PAYMENTS:
        for line, ref in repository.resolve_receivables(conn, tenant_id):
            db_errors.append(
                FieldError("receivable_external_id", f"receivable '{ref}' not found", line, source)
            )
    errors = sorted(errors + db_errors, key=lambda e: (e.line or 0, e.field))
    if errors and not partial:
        # All-or-nothing: report every problem, write nothing (the caller rolls back).
        repository.drop_stage(conn)
        rows = len({e.line for e in errors})
        raise ValidationFailed(
            errors=errors, message=f"{source}: {rows} invalid rows, nothing written"
        )
    if db_errors:
        repository.delete_stage_lines(conn, {e.line for e in db_errors if e.line is not None})
        bad_lines |= {e.line for e in db_errors if e.line is not None}
    if progress:
        progress("writing", 0, 1)

    now = datetime.now(UTC)
    target = _targets(kind, validated.columns, conn)
    contact_kinds = {c: k for c, k in CONTACT_COLUMNS.items() if c in validated.columns}
    contact_lines: set[int] = set()
    if kind is ImportKind.CUSTOMERS:
        contact_lines = repository.new_contact_lines(conn, tenant_id, contact_kinds)
    counts = repository.upsert(
        conn,
        target,
        tenant_id=tenant_id,
        now=now,
        actor=actor,
        source=source,
        extra_changed_lines=contact_lines,
    )
    if kind is ImportKind.CUSTOMERS and contact_kinds:
        result.contact_points_added = repository.changed_customer_contacts(
            conn, tenant_id, contact_kinds, now
        )
    settled: list[tuple[uuid.UUID, date]] = []
    if kind is ImportKind.PAYMENTS:
        repository.recompute_balances(
            conn, tenant_id, now, ids_sql=f"SELECT receivable_id FROM {repository.STAGE}"
        )
        settled = repository.closed_by_stage(conn, tenant_id)
    repository.drop_stage(conn)
    if settled:
        _settlement_effects(session, tenant_id=tenant_id, settled=settled, actor=actor)

    result.inserted = counts.inserted
    result.updated = counts.updated
    result.rejected = len(bad_lines)
    result.unchanged = result.total - result.rejected - result.inserted - result.updated
    result.errors = errors
    audit.record(
        session,
        tenant_id=tenant_id,
        actor=actor,
        action=f"import.{kind.value}",
        entity_type="import",
        entity_id=None,
        data=result.summary(),
    )
    session.flush()
    return result


def _settlement_effects(
    session: Session,
    *,
    tenant_id: uuid.UUID,
    settled: list[tuple[uuid.UUID, date]],
    actor: str,
) -> None:
    """Imported payments that closed receivables have the effects of any other payment
    (``cadence.events.receivables_settled``: contacts cancelled, cases cured, bureau records
    removed within 5 business days — STJ Súmula 548; agreements activated or completed). The
    hook is idempotent, so a re-import changes nothing."""
    from adimple.cadence.events import receivables_settled
    from adimple.negotiation.service import installments_settled

    by_date: dict[date, list[uuid.UUID]] = {}
    for receivable_id, paid_on in settled:
        by_date.setdefault(paid_on, []).append(receivable_id)
    for on, ids in sorted(by_date.items()):
        for start in range(0, len(ids), 1000):
            receivables_settled(
                session,
                tenant_id=tenant_id,
                receivable_ids=ids[start : start + 1000],
                on=on,
                actor=actor,
            )
        # An agreement installment paid by import activates or completes its agreement too.
        installments_settled(session, tenant_id=tenant_id, receivable_ids=ids, on=on, actor=actor)


def write_rejects(path: Path, raw: pl.DataFrame, errors: list[FieldError]) -> Path:
    """Writes rejected rows (as read) with their line and reasons; returns the file's path."""
    reasons: dict[int, list[str]] = {}
    for error in errors:
        if error.line is not None and error.line > 1:
            reasons.setdefault(error.line, []).append(f"{error.field}: {error.reason}")
    target = path.with_suffix(".rejects.csv")
    columns = [c for c in raw.columns if c != LINE]
    rows = raw.filter(pl.col(LINE).is_in(sorted(reasons)))
    with target.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, delimiter=";")
        writer.writerow(["line", *columns, "reason"])
        for row in rows.iter_rows(named=True):
            line = row[LINE]
            writer.writerow(
                [
                    line,
                    *("" if row[c] is None else row[c] for c in columns),
                    "; ".join(reasons[line]),
                ]
            )
    return target


# --- API operations --------------------------------------------------------------------------


def bulk_upsert(
    session: Session,
    *,
    tenant_id: uuid.UUID,
    kind: ImportKind,
    items: Sequence[BaseModel],
    actor: str,
    partial: bool = False,
) -> ImportResult:
    """The API's bulk upsert: the same rules and SQL as a file import; ``line`` = item index."""
    rows: list[dict[str, str | None]] = []
    for item in items:
        data = item.model_dump(mode="json", exclude_none=True)
        row: dict[str, str | None] = {}
        for key, value in data.items():
            if isinstance(value, bool):
                row[key] = "1" if value else "0"
            elif isinstance(value, list):
                row[key] = "|".join(str(v) for v in value) if value else None
            else:
                row[key] = str(value)
        rows.append(row)
    columns = sorted({key for row in rows for key in row})
    frame = (
        pl.DataFrame(
            {c: [row.get(c) for row in rows] for c in columns},
            schema=dict.fromkeys(columns, pl.Utf8),
        )
        .with_row_index(LINE)
        .with_columns(pl.col(LINE).cast(pl.Int64))
    )
    canonical, header_errors = canonicalize(frame, kind, "body")
    if header_errors:
        raise ValidationFailed(errors=header_errors)
    validated = validate(canonical, kind, "body", decimal_separator=".")
    return import_validated(
        session,
        tenant_id=tenant_id,
        kind=kind,
        validated=validated,
        source="api",
        actor=actor,
        partial=partial,
    )


def _get(session: Session, model: type[M], tenant_id: uuid.UUID, record_id: uuid.UUID) -> M:
    row = session.scalar(select(model).where(model.tenant_id == tenant_id, model.id == record_id))
    if row is None:
        raise NotFound(f"{model.__tablename__} {record_id} not found")
    return row


def get_customer(session: Session, *, tenant_id: uuid.UUID, customer_id: uuid.UUID) -> Customer:
    return _get(session, Customer, tenant_id, customer_id)


def _get_by_external_id(
    session: Session, model: type[M], tenant_id: uuid.UUID, external_id: str
) -> M:
    row = session.scalar(
        select(model).where(model.tenant_id == tenant_id, model.external_id == external_id)
    )
    if row is None:
        raise NotFound(f"{model.__tablename__} '{external_id}' not found")
    return row


def get_customer_by_external_id(
    session: Session, *, tenant_id: uuid.UUID, external_id: str
) -> Customer:
    return _get_by_external_id(session, Customer, tenant_id, external_id)


def get_receivable_by_external_id(
    session: Session, *, tenant_id: uuid.UUID, external_id: str
) -> Receivable:
    return _get_by_external_id(session, Receivable, tenant_id, external_id)


def get_payment_by_external_id(
    session: Session, *, tenant_id: uuid.UUID, external_id: str
) -> Payment:
    return _get_by_external_id(session, Payment, tenant_id, external_id)


def get_receivable(
    session: Session, *, tenant_id: uuid.UUID, receivable_id: uuid.UUID
) -> Receivable:
    return _get(session, Receivable, tenant_id, receivable_id)


def get_payment(session: Session, *, tenant_id: uuid.UUID, payment_id: uuid.UUID) -> Payment:
    return _get(session, Payment, tenant_id, payment_id)


def page(
    session: Session, query: Select[M], *, limit: int, offset: int, order_by: Any
) -> tuple[list[M], int]:
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    keys = order_by if isinstance(order_by, tuple) else (order_by,)
    items = list(session.scalars(query.order_by(*keys).limit(limit).offset(offset)))
    return items, total


def update_customer(
    session: Session,
    *,
    tenant_id: uuid.UUID,
    customer_id: uuid.UUID,
    changes: dict[str, Any],
    actor: str,
) -> Customer:
    customer = get_customer(session, tenant_id=tenant_id, customer_id=customer_id)
    errors: list[FieldError] = []
    if changes.get("uf") is not None:
        try:
            changes["uf"] = rules.normalize_uf(changes["uf"])
        except ValueError as exc:
            errors.append(FieldError("uf", str(exc)))
    if errors:
        raise ValidationFailed(errors=errors)
    before, after = _apply_changes(customer, changes)
    _audit_update(session, tenant_id, actor, "customer", customer.id, before, after)
    return customer


def delete_customer(
    session: Session, *, tenant_id: uuid.UUID, customer_id: uuid.UUID, actor: str
) -> None:
    customer = get_customer(session, tenant_id=tenant_id, customer_id=customer_id)
    has_receivables = session.scalar(
        select(func.count())
        .select_from(Receivable)
        .where(Receivable.tenant_id == tenant_id, Receivable.customer_id == customer.id)
    )
    if has_receivables:
        raise Conflict("the customer has receivables; cancel or keep them instead of deleting")
    audit.record(
        session,
        tenant_id=tenant_id,
        actor=actor,
        action="customer.deleted",
        entity_type="customer",
        entity_id=customer.id,
        data={"external_id": customer.external_id, "document": customer.document},
    )
    # The daily cycle's rows carry no foreign keys (migrations 0014 and 0016), so what the
    # cascades did is done here: a customer without títulos rarely has any of them (and has
    # no case: a case is opened for an overdue título, and títulos are never deleted).
    from adimple.cadence.models import CaseEvent, CollectionCase, ContactSuppression
    from adimple.messaging.models import OutboxMessage, OutboxReceivable

    messages = select(OutboxMessage.id).where(
        OutboxMessage.tenant_id == tenant_id, OutboxMessage.customer_id == customer.id
    )
    cases = select(CollectionCase.id).where(
        CollectionCase.tenant_id == tenant_id, CollectionCase.customer_id == customer.id
    )
    session.execute(
        delete(OutboxReceivable).where(
            OutboxReceivable.tenant_id == tenant_id, OutboxReceivable.outbox_id.in_(messages)
        )
    )
    session.execute(
        delete(CaseEvent).where(CaseEvent.tenant_id == tenant_id, CaseEvent.case_id.in_(cases))
    )
    for model in (OutboxMessage, ContactSuppression, CollectionCase):
        session.execute(
            delete(model).where(model.tenant_id == tenant_id, model.customer_id == customer.id)
        )
    session.execute(
        delete(ContactPoint).where(
            ContactPoint.tenant_id == tenant_id, ContactPoint.customer_id == customer.id
        )
    )
    session.delete(customer)
    session.flush()


def add_contact_point(
    session: Session,
    *,
    tenant_id: uuid.UUID,
    customer_id: uuid.UUID,
    data: dict[str, Any],
    actor: str,
) -> ContactPoint:
    customer = get_customer(session, tenant_id=tenant_id, customer_id=customer_id)
    kind = ContactKind(data["kind"])
    try:
        if kind is ContactKind.EMAIL:
            data["value"] = rules.normalize_email(data["value"])
        elif kind is ContactKind.PHONE:
            data["value"] = rules.normalize_phone(data["value"])
    except ValueError as exc:
        raise ValidationFailed(errors=[FieldError("value", str(exc))]) from exc
    if (
        data.get("best_hour_start")
        and data.get("best_hour_end")
        and data["best_hour_start"] >= data["best_hour_end"]
    ):
        raise ValidationFailed(errors=[FieldError("best_hour_end", "must be after the start")])
    exists = session.scalar(
        select(ContactPoint.id).where(
            ContactPoint.tenant_id == tenant_id,
            ContactPoint.customer_id == customer.id,
            ContactPoint.kind == kind,
            ContactPoint.value == data["value"],
        )
    )
    if exists:
        raise Conflict("this contact point already exists for the customer")
    point = ContactPoint(tenant_id=tenant_id, customer_id=customer.id, **data)
    session.add(point)
    session.flush()
    audit.record(
        session,
        tenant_id=tenant_id,
        actor=actor,
        action="contact_point.created",
        entity_type="contact_point",
        entity_id=point.id,
        data={"customer_id": str(customer.id), "kind": kind.value, "owner": str(point.owner)},
    )
    return point


def list_contact_points(
    session: Session, *, tenant_id: uuid.UUID, customer_id: uuid.UUID
) -> list[ContactPoint]:
    customer = get_customer(session, tenant_id=tenant_id, customer_id=customer_id)
    return list(
        session.scalars(
            select(ContactPoint)
            .where(ContactPoint.tenant_id == tenant_id, ContactPoint.customer_id == customer.id)
            .order_by(ContactPoint.created_at)
        )
    )


MANUAL_STATUSES = {ReceivableStatus.CANCELLED, ReceivableStatus.WRITTEN_OFF}


def update_receivable(
    session: Session,
    *,
    tenant_id: uuid.UUID,
    receivable_id: uuid.UUID,
    changes: dict[str, Any],
    actor: str,
) -> Receivable:
    receivable = get_receivable(session, tenant_id=tenant_id, receivable_id=receivable_id)
    status = changes.get("status")
    if status is not None and status not in MANUAL_STATUSES:
        raise ValidationFailed(
            errors=[FieldError("status", "only cancelled or written_off can be set by hand")]
        )
    if changes.get("due_date") is not None and changes["due_date"] < receivable.issue_date:
        raise ValidationFailed(errors=[FieldError("due_date", "due date is before the issue date")])
    before, after = _apply_changes(receivable, changes)
    if status in MANUAL_STATUSES and "status" in after:
        before["balance"], after["balance"] = _jsonable(receivable.balance), "0.00"
        receivable.balance = Decimal("0.00")
    _audit_update(session, tenant_id, actor, "receivable", receivable.id, before, after)
    return receivable


def delete_payment(
    session: Session, *, tenant_id: uuid.UUID, payment_id: uuid.UUID, actor: str
) -> None:
    """Estorno: removes a payment recorded by mistake and reopens what it had settled.

    The remaining payments keep their imputação (imported ones are allocated again); the
    balance is original − Σ principal − Σ discount of what remains, and a refund still pending
    for the removed payment is cancelled.
    """
    from adimple.messaging.models import Task, TaskStatus

    payment = get_payment(session, tenant_id=tenant_id, payment_id=payment_id)
    receivable_id = payment.receivable_id
    audit.record(
        session,
        tenant_id=tenant_id,
        actor=actor,
        action="payment.deleted",
        entity_type="payment",
        entity_id=payment.id,
        data={
            "external_id": payment.external_id,
            "gross": _jsonable(payment.gross),
            "principal": _jsonable(payment.principal),
            "charges": _jsonable(payment.charges),
            "discount": _jsonable(payment.discount),
            "overpaid": _jsonable(payment.overpaid),
        },
    )
    for task in session.scalars(
        select(Task).where(
            Task.tenant_id == tenant_id,
            Task.idempotency_key == f"refund:{payment.id}",
            Task.status == TaskStatus.OPEN,
        )
    ):
        task.status = TaskStatus.CANCELLED
        task.outcome = "payment_deleted"
    session.delete(payment)
    session.flush()
    conn = session.connection()
    repository.allocate_imported(
        conn,
        ids_sql=":ids",
        params=[
            *repository.base_params(tenant_id, datetime.now(UTC)),
            bindparam("ids", [receivable_id], type_=Uuid(), expanding=True),
        ],
    )
    session.expire_all()
    receivable = get_receivable(session, tenant_id=tenant_id, receivable_id=receivable_id)
    principal, discount = session.execute(
        select(func.sum(Payment.principal), func.sum(Payment.discount)).where(
            Payment.tenant_id == tenant_id, Payment.receivable_id == receivable_id
        )
    ).one()
    applied = Decimal(principal or 0) + Decimal(discount or 0)
    if receivable.status in (ReceivableStatus.OPEN, ReceivableStatus.PAID):
        remaining = max(receivable.original_amount - applied, Decimal("0.00"))
        receivable.status = ReceivableStatus.OPEN if remaining > 0 else ReceivableStatus.PAID
        receivable.balance = remaining
    session.flush()


def _apply_changes(row: object, changes: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Sets the changed attributes; returns the audit's before/after of what really changed."""
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    for key, value in changes.items():
        old = getattr(row, key)
        if old != value:
            before[key], after[key] = _jsonable(old), _jsonable(value)
            setattr(row, key, value)
    return before, after


def _audit_update(
    session: Session,
    tenant_id: uuid.UUID,
    actor: str,
    entity_type: str,
    entity_id: uuid.UUID,
    before: dict[str, Any],
    after: dict[str, Any],
) -> None:
    if not after:
        return
    session.flush()
    audit.record(
        session,
        tenant_id=tenant_id,
        actor=actor,
        action=f"{entity_type}.updated",
        entity_type=entity_type,
        entity_id=entity_id,
        data={"before": before, "after": after},
    )


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return value
