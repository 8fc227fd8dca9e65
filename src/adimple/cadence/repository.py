"""The daily cycle's SQL: select only what has something due, load it in bulk, write it back.

Selection goes through indexes — ``collection_case (tenant_id, status, next_step_on,
customer_id)`` for the cases with a step due and ``receivable (tenant_id, status, due_date,
customer_id)`` for newly overdue títulos and pre-due reminders — so a day's work is
proportional to what is due, not to the size of the portfolio. Everything is scoped by tenant
and by a customer-id range (the partition one transaction handles), which both indexes check
in their last column.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from functools import cache
from typing import Any, NamedTuple, TypeVar

from sqlalchemy import (
    BigInteger,
    Boolean,
    Connection,
    Date,
    Integer,
    String,
    Uuid,
    and_,
    bindparam,
    case,
    func,
    or_,
    select,
    text,
    true,
    type_coerce,
)

from adimple.cadence.models import (
    BureauStatus,
    Cadence,
    CadenceStep,
    CadenceVersion,
    CaseStatus,
    CollectionCase,
    CreditBureauRecord,
    CycleRun,
    CycleRunStatus,
    Segment,
)
from adimple.cadence.planner import BureauView, CustomerView, ReceivableView
from adimple.cadence.rules import (
    LATE_GRACE_DAYS,
    CustomerFeatures,
    SegmentDef,
    StepDef,
    same_day_months_back,
)
from adimple.compliance.rules import ContactPointFacts, CustomerFacts
from adimple.db.dialect import (
    UuidArray,
    days_between_sql,
    id_chunk_size,
    is_postgres,
    uuid_batch,
    uuid_in,
    uuid_param,
)
from adimple.kit.calendar import overdue_cutoff, timezone_for_uf
from adimple.kit.money import from_cents
from adimple.messaging.models import OutboxMessage, OutboxStatus
from adimple.portfolio.models import (
    Channel,
    ChannelOptOut,
    ContactPoint,
    Customer,
    DocumentKind,
    Receivable,
    ReceivableStatus,
)

LIVE = (CaseStatus.OPEN, CaseStatus.PAUSED)
LIVE_SQL = text("collection_case.status IN ('open', 'paused')")
CHUNK = 2000
T = TypeVar("T")


def chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    """Fixed-size slices (``size`` ids per statement: see ``dialect.id_chunk_size``)."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


@dataclass(frozen=True)
class Partition:
    """Customers with ``lo <= id < hi`` (``None`` = unbounded)."""

    lo: uuid.UUID | None
    hi: uuid.UUID | None

    def clause(self, column: Any) -> Any:
        parts = []
        if self.lo is not None:
            parts.append(column >= self.lo)
        if self.hi is not None:
            parts.append(column < self.hi)
        return and_(*parts) if parts else and_(True)

    def contains(self, customer_id: uuid.UUID) -> bool:
        """:meth:`clause` in Python (UUIDs order as their bytes, as in both databases)."""
        return (self.lo is None or customer_id >= self.lo) and (
            self.hi is None or customer_id < self.hi
        )


def partitions(count: int) -> list[Partition]:
    """``count`` equal ranges of the UUID space (customer ids are random v4 UUIDs)."""
    if count <= 1:
        return [Partition(None, None)]
    step = (1 << 128) // count
    bounds = [None] + [uuid.UUID(int=step * i) for i in range(1, count)] + [None]
    return [Partition(bounds[i], bounds[i + 1]) for i in range(count)]


# --- cadences and segments --------------------------------------------------------------------


def load_steps(conn: Connection, tenant_id: uuid.UUID) -> dict[uuid.UUID, list[StepDef]]:
    """Every version's steps (versions are few; cases point at the one they started with)."""
    steps: dict[uuid.UUID, list[StepDef]] = defaultdict(list)
    for row in conn.execute(
        select(
            CadenceStep.cadence_version_id,
            CadenceStep.position,
            CadenceStep.step_key,
            CadenceStep.offset_days,
            CadenceStep.channels,
            CadenceStep.action,
            CadenceStep.template,
            CadenceStep.min_balance.label("min_balance"),
            CadenceStep.segments,
            CadenceStep.score_bands,
            CadenceStep.only_business_days,
        )
        .where(CadenceStep.tenant_id == tenant_id)
        .order_by(CadenceStep.cadence_version_id, CadenceStep.position)
    ).all():
        steps[row.cadence_version_id].append(
            StepDef(
                position=row.position,
                key=row.step_key,
                offset_days=row.offset_days,
                channels=tuple(Channel(c) for c in row.channels or ()),
                action=row.action.value if row.action is not None else None,
                template=row.template,
                min_balance=row.min_balance,
                segments=tuple(row.segments) if row.segments is not None else None,
                score_bands=tuple(row.score_bands) if row.score_bands is not None else None,
                only_business_days=bool(row.only_business_days),
            )
        )
    return dict(steps)


def load_segments(conn: Connection, tenant_id: uuid.UUID) -> list[SegmentDef]:
    rows = conn.execute(
        select(
            Segment.code,
            Segment.name,
            Segment.priority,
            Segment.kind,
            Segment.params,
            Segment.cadence_name,
        ).where(Segment.tenant_id == tenant_id, Segment.enabled.is_(True))
    )
    return [
        SegmentDef(r.code, r.name, r.priority, r.kind, dict(r.params or {}), r.cadence_name)
        for r in rows
    ]


def current_versions(conn: Connection, tenant_id: uuid.UUID) -> dict[str, uuid.UUID]:
    """Cadence name → id of its current version (what a new case starts on)."""
    rows = conn.execute(
        select(Cadence.name, CadenceVersion.id)
        .join(
            CadenceVersion,
            and_(
                CadenceVersion.cadence_id == Cadence.id,
                CadenceVersion.version == Cadence.current_version,
            ),
        )
        .where(Cadence.tenant_id == tenant_id)
    )
    return {name: version_id for name, version_id in rows}


# --- selection ------------------------------------------------------------------------------


def due_cases(conn: Connection, tenant_id: uuid.UUID, day: date, part: Partition) -> Sequence[Any]:
    """Live cases with a step due on or before ``day`` (the indexed daily selection)."""
    # .all(): one fetch of the whole result, not a driver call per row.
    return conn.execute(
        select(
            CollectionCase.id,
            CollectionCase.customer_id,
            CollectionCase.status,
            CollectionCase.segment,
            CollectionCase.cadence_version_id,
            CollectionCase.anchor_receivable_id,
            CollectionCase.anchor_due_date,
            CollectionCase.last_position,
            CollectionCase.next_step_on,
            CollectionCase.pause_reason,
            CollectionCase.risk_band,
        ).where(
            CollectionCase.tenant_id == tenant_id,
            CollectionCase.status.in_(LIVE),
            CollectionCase.next_step_on <= day,
            part.clause(CollectionCase.customer_id),
        )
    ).all()


def _overdue_filter(tenant_id: uuid.UUID, cutoff: date, prescribed_on: date) -> list[Any]:
    # uncovered_customers asks the same of changed títulos in Python: keep the two alike.
    return [
        Receivable.tenant_id == tenant_id,
        Receivable.status == ReceivableStatus.OPEN,
        Receivable.due_date <= cutoff,
        Receivable.due_date > prescribed_on,
        Receivable.balance > Decimal("0.00"),
    ]


def uncovered_customers(
    conn: Connection,
    tenant_id: uuid.UUID,
    *,
    cutoff: date,
    prescribed_on: date,
    part: Partition,
    since: LastRun | None = None,
) -> list[uuid.UUID]:
    """Customers with a título overdue (and not prescribed) and no live case: cases to open.

    After a successful run only what changed can add a customer: títulos that became overdue
    since (the due-date index), and títulos created or changed since it started — a late
    import, an estorno, a broken agreement (the ``updated_at`` index). Without a previous run
    (or for an earlier date) every overdue título is looked at.
    """
    mine = part.clause(Receivable.customer_id)
    if since is None:
        query = select(Receivable.customer_id).where(
            *_overdue_filter(tenant_id, cutoff, prescribed_on), mine
        )
        candidates = conn.execute(query.distinct()).scalars().all()
    else:
        # Two index ranges, not one OR: SQLite answered the OR by reading the row of every
        # overdue título (1.4M, once per partition: 36 s of a 10M day); PostgreSQL made the
        # same two scans of the OR by itself. Each range is asked for by its own index's
        # columns alone and the rest is judged here: with the customer range or the status in
        # the query, SQLite — which cannot know how narrow the other range is — walks a
        # partition's every título in the customer index, or every open título. PostgreSQL,
        # which plans by the data, gets the whole filter (a large import's changes stay there).
        became_overdue = select(Receivable.customer_id).where(
            *_overdue_filter(tenant_id, cutoff, max(prescribed_on, since.cutoff))
        )
        changed = select(
            Receivable.customer_id,
            Receivable.status,
            Receivable.due_date,
            Receivable.balance.label("balance"),
        ).where(Receivable.tenant_id == tenant_id, Receivable.updated_at >= since.started_at)
        if is_postgres(conn):
            became_overdue = became_overdue.where(mine)
            changed = changed.where(mine, *_overdue_filter(tenant_id, cutoff, prescribed_on))
        found = {
            c for c in conn.execute(became_overdue).scalars().all() if part.contains(_as_uuid(c))
        }
        for row in conn.execute(changed).all():
            if (
                part.contains(_as_uuid(row.customer_id))
                and row.status == ReceivableStatus.OPEN
                and prescribed_on < row.due_date <= cutoff
                and row.balance > 0
            ):
                found.add(row.customer_id)
        candidates = sorted(found)
    # The live cases are looked up by customer (the unique live-case index) rather than as a
    # NOT EXISTS in the query above: with collection_case's statistics taken while it was
    # still empty — a tenant's first run — PostgreSQL planned that anti-join as a scan of
    # every case per título, and a first run at 10M títulos never finished.
    live = live_case_customers(conn, tenant_id, candidates)
    return [c for c in candidates if c not in live]


@dataclass(frozen=True)
class LastRun:
    """The latest finished run before the one at hand."""

    run_date: date
    cutoff: date
    started_at: datetime


def last_run(conn: Connection, tenant_id: uuid.UUID, day: date) -> LastRun | None:
    row = conn.execute(
        select(CycleRun.run_date, CycleRun.started_at)
        .where(
            CycleRun.tenant_id == tenant_id,
            CycleRun.status == CycleRunStatus.DONE,
            CycleRun.run_date < day,
        )
        .order_by(CycleRun.run_date.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    return LastRun(row.run_date, overdue_cutoff(row.run_date), row.started_at)


def reminder_due_dates(
    conn: Connection, tenant_id: uuid.UUID, due_dates: Sequence[date], part: Partition
) -> list[tuple[uuid.UUID, int]]:
    """Who may get a pre-due reminder today: (customer id, which of ``due_dates`` they have
    an open título on, as a bit mask — bit k for ``due_dates[k]``).

    Customer and due date are both in the due-date index, so this reads the index alone
    (PostgreSQL: an index-only scan); a título's row is read only for the customers who do get
    a reminder (:func:`reminder_receivables`), where a zero balance is also judged. The mask is
    a ``SUM(DISTINCT …)`` of powers of two (both databases have it; SQLite has no ``BIT_OR``):
    one row per customer and no date objects for tens of thousands of candidates.
    """
    masks: dict[uuid.UUID, int] = defaultdict(int)
    # Bits fit a BIGINT 62 dates at a time; a day has a handful.
    for offset in range(0, len(due_dates), 62):
        group = list(due_dates[offset : offset + 62])
        bit = case(*((Receivable.due_date == due, 1 << k) for k, due in enumerate(group)))
        for customer_id, mask in conn.execute(
            select(Receivable.customer_id, func.sum(bit.distinct()))
            .where(
                Receivable.tenant_id == tenant_id,
                Receivable.status == ReceivableStatus.OPEN,
                Receivable.due_date.in_(group),
                part.clause(Receivable.customer_id),
            )
            .group_by(Receivable.customer_id)
        ).all():
            masks[customer_id] |= int(mask) << offset
    return list(masks.items())


def _titulo_columns() -> tuple[Any, ...]:
    """A título as the planner reads it: customer, id, external id, due date, centavos."""
    return (
        Receivable.customer_id,
        Receivable.id,
        Receivable.external_id,
        Receivable.due_date,
        _raw(Receivable.balance, BigInteger),
    )


def reminder_receivables(
    conn: Connection,
    tenant_id: uuid.UUID,
    due_dates: Sequence[date],
    customer_ids: Sequence[uuid.UUID],
) -> dict[uuid.UUID, list[ReceivableView]]:
    """The open títulos with a balance due on one of ``due_dates``, of the customers being
    reminded, by customer (the customer index): oldest due date first."""
    found: dict[uuid.UUID, list[ReceivableView]] = defaultdict(list)
    if not due_dates:
        return found
    wanted = frozenset(due_dates)
    if is_postgres(conn):
        # The dates' span, not the list: with two arrays in the index condition (customers
        # and dates) PostgreSQL 15 descends the index once per pair — 13 dates × 3,400
        # customers, 50,000 buffers for 3,200 rows in a 10M partition, three to four times the
        # time of one descent per customer over the span (docs/benchmarks.md, session 13).
        # The few títulos due inside the span on another day are dropped below.
        on_dates = Receivable.due_date.between(min(due_dates), max(due_dates))
    else:
        on_dates = Receivable.due_date.in_(list(due_dates))
    for chunk in chunks(customer_ids, id_chunk_size(conn)):
        # .all(): one fetch of the whole result, not a driver call per row.
        for customer_id, receivable_id, external_id, due_date, cents in conn.execute(
            select(*_titulo_columns())
            .where(
                Receivable.tenant_id == tenant_id,
                uuid_in(conn, Receivable.customer_id, chunk),
                Receivable.status == ReceivableStatus.OPEN,
                on_dates,
                Receivable.balance > Decimal("0.00"),
            )
            .order_by(Receivable.customer_id, Receivable.due_date, Receivable.external_id)
        ).all():
            if due_date in wanted:
                found[customer_id].append(
                    ReceivableView(receivable_id, external_id, due_date, from_cents(cents))
                )
    return found


def live_case_customers(
    conn: Connection, tenant_id: uuid.UUID, customer_ids: Sequence[uuid.UUID]
) -> set[uuid.UUID]:
    found: set[uuid.UUID] = set()
    for chunk in chunks(customer_ids, id_chunk_size(conn)):
        found.update(
            conn.execute(
                select(CollectionCase.customer_id).where(
                    CollectionCase.tenant_id == tenant_id,
                    uuid_in(conn, CollectionCase.customer_id, chunk),
                    id_span(conn, CollectionCase.customer_id, chunk),
                    # Literal, as in the unique live-case index's predicate, so the planner
                    # can use that partial index even in a generic (prepared) plan.
                    LIVE_SQL,
                )
            )
            .scalars()
            .all()
        )
    return found


def id_span(conn: Connection, column: Any, ids: Sequence[uuid.UUID] | UuidArray) -> Any:
    """PostgreSQL: ``column`` between the least and the greatest of ``ids`` — the range a
    partition's ids fall in, as an index condition beside the id list.

    Given only ``= ANY(ids)`` for thousands of ids, PostgreSQL 15 estimates it cheaper to read
    every row and test each against the list: for the live cases, a parallel scan of all the
    tenant's cases (330,000 at 10M títulos) once per partition, 45–70 ms and two extra
    processes each time; for the recent attempts, the whole young outbox. With the range it
    reads the partition's slice of the index (8 ms). UUIDs order as their bytes in Python and
    in the database (:meth:`Partition.contains`). SQLite gets nothing: it would take the range
    over the id list as the index condition and walk the whole slice instead of looking the
    ids up (docs/benchmarks.md, session 15).
    """
    if not is_postgres(conn):
        return true()
    values = ids.ids if isinstance(ids, UuidArray) else ids
    return column.between(min(values), max(values))


# --- loading customers ------------------------------------------------------------------------


@dataclass
class Loaded:
    """Customers as views, plus which of them still owe anything overdue (even prescribed)."""

    views: dict[uuid.UUID, CustomerView]
    overdue_any: set[uuid.UUID]


def _raw(column: Any, type_: Any = String) -> Any:
    """A column without its Python-side result processing (enum members, ``Decimal``
    money): the loaders below read plain values for tens of thousands of rows per partition."""
    return type_coerce(column, type_())


def load_customers(
    conn: Connection,
    tenant_id: uuid.UUID,
    customer_ids: Sequence[uuid.UUID],
    *,
    day: date,
    cutoff: date,
    prescribed_on: date,
    attempts_window_days: int,
) -> Loaded:
    """Customers with a case (due, or opening today) as the planner sees them: the customer
    row, the overdue títulos, the bureau records, contact points, opt-outs and history."""
    ids = list(dict.fromkeys(customer_ids))  # chunk order is irrelevant: no sort needed
    views: dict[uuid.UUID, CustomerView] = {}
    overdue_any: set[uuid.UUID] = set()
    agreement_status = ReceivableStatus.AGREEMENT.value
    for ids_chunk in chunks(ids, id_chunk_size(conn)):
        chunk = uuid_batch(conn, ids_chunk)  # converted once for the queries below
        # One pass over the customers' títulos: the overdue ones (a case's) and whether any
        # is in an agreement (a guard for everyone).
        agreement: set[uuid.UUID] = set()
        overdue_rows: list[Any] = []
        for titulo in conn.execute(
            select(*_titulo_columns(), _raw(Receivable.status))
            .where(
                Receivable.tenant_id == tenant_id,
                uuid_in(conn, Receivable.customer_id, chunk),
                or_(
                    Receivable.status == ReceivableStatus.AGREEMENT,
                    and_(
                        Receivable.status == ReceivableStatus.OPEN,
                        Receivable.due_date <= cutoff,
                        Receivable.balance > Decimal("0.00"),
                    ),
                ),
            )
            .order_by(Receivable.customer_id, Receivable.due_date, Receivable.external_id)
        ).all():
            if titulo[5] == agreement_status:
                agreement.add(titulo[0])
            else:
                overdue_rows.append(titulo)
        for row in conn.execute(
            select(*_VIEW_COLUMNS).where(
                Customer.tenant_id == tenant_id, uuid_in(conn, Customer.id, chunk)
            )
        ).all():
            views[row.id] = _view(row, row.id in agreement)
        for customer_id, receivable_id, external_id, due_date, cents, _ in overdue_rows:
            overdue_any.add(customer_id)
            if due_date > prescribed_on:
                views[customer_id].overdue.append(
                    ReceivableView(receivable_id, external_id, due_date, from_cents(cents))
                )
        _fill_contacts(conn, tenant_id, chunk, views, day, attempts_window_days)
        for b in conn.execute(
            select(
                CreditBureauRecord.id,
                CreditBureauRecord.customer_id,
                CreditBureauRecord.receivable_id,
                _raw(CreditBureauRecord.status),
                CreditBureauRecord.eligible_on,
            )
            .where(
                CreditBureauRecord.tenant_id == tenant_id,
                uuid_in(conn, CreditBureauRecord.customer_id, chunk),
                CreditBureauRecord.status.in_(
                    [BureauStatus.NOTICE_SENT, BureauStatus.ACTIVE, BureauStatus.REMOVAL_PENDING]
                ),
            )
            .order_by(CreditBureauRecord.customer_id, CreditBureauRecord.receivable_id)
        ).all():
            views[b[1]].bureau.append(BureauView(b[0], b[2], b[3], b[4]))
    return Loaded(views, overdue_any)


# The customer columns a CustomerView is made of (both loaders read them).
_VIEW_COLUMNS = (
    Customer.id,
    Customer.external_id,
    Customer.uf,
    Customer.deceased,
    Customer.disputed,
    Customer.superendividamento,
    Customer.do_not_contact,
)


def _view(row: Any, in_agreement: bool) -> CustomerView:
    """A view of a row that starts with :data:`_VIEW_COLUMNS`, without contacts, títulos or
    history. By position, and with the facts shared: a day builds tens of thousands of these,
    and reading the columns by name plus a frozen dataclass per view took 6 µs a view; this
    takes 1.5 µs."""
    customer_id, external_id, uf, deceased, disputed, superendividamento, do_not_contact = row[:7]
    return CustomerView(
        customer_id,
        external_id,
        uf,
        _facts(
            bool(deceased),
            bool(disputed),
            bool(superendividamento),
            bool(do_not_contact),
            in_agreement,
        ),
        [],
        set(),
        [],
        [],
    )


@cache
def _facts(
    deceased: bool,
    disputed: bool,
    superendividamento: bool,
    do_not_contact: bool,
    in_agreement: bool,
) -> CustomerFacts:
    """One (immutable) CustomerFacts per combination: there are 32."""
    return CustomerFacts(
        deceased=deceased,
        disputed=disputed,
        superendividamento=superendividamento,
        do_not_contact=do_not_contact,
        in_agreement=in_agreement,
    )


_CHANNELS = {c.value: c for c in Channel}


def contact_points_query(conn: Connection, tenant_id: uuid.UUID, chunk: Any) -> Any:
    """The contact points of a batch of customers, as :func:`_fill_contacts` reads them.

    Every column here is in ``ix_contact_point_tenant_customer`` on PostgreSQL (``INCLUDE``,
    migration 0017), so the tens of thousands of points a day reads come from an index-only
    scan; a column added here must be added there (a test checks the plan).
    """
    return select(
        ContactPoint.customer_id,
        ContactPoint.id,
        _raw(ContactPoint.kind),
        ContactPoint.value,
        _raw(ContactPoint.owner),
        ContactPoint.verified,
        ContactPoint.preferred,
        _raw(ContactPoint.preferred_channel),
        # Whether, not when: a flag needs no per-row timezone conversion (tens of thousands a day).
        ContactPoint.invalid_at.is_not(None),
        ContactPoint.best_hour_start,
        ContactPoint.best_hour_end,
    ).where(ContactPoint.tenant_id == tenant_id, uuid_in(conn, ContactPoint.customer_id, chunk))


def _fill_contacts(
    conn: Connection,
    tenant_id: uuid.UUID,
    chunk: Any,
    views: dict[uuid.UUID, CustomerView],
    day: date,
    attempts_window_days: int,
) -> None:
    """Contact points, opt-outs and the attempts the frequency cap counts, for one batch
    (``chunk``: a :func:`uuid_batch`)."""
    since = datetime.combine(day - timedelta(days=attempts_window_days + 1), time(0), UTC)
    for p in conn.execute(contact_points_query(conn, tenant_id, chunk)).all():
        views[p[0]].points.append(
            ContactPointFacts(
                p[1], p[2], p[3], p[4], bool(p[5]), bool(p[6]), p[7], bool(p[8]), p[9], p[10]
            )
        )
    for customer_id, channel in conn.execute(
        select(ChannelOptOut.customer_id, _raw(ChannelOptOut.channel)).where(
            ChannelOptOut.tenant_id == tenant_id,
            uuid_in(conn, ChannelOptOut.customer_id, chunk),
        )
    ).all():
        views[customer_id].opted_out.add(_CHANNELS[channel])
    for customer_id, channel, scheduled_for in conn.execute(
        select(OutboxMessage.customer_id, _raw(OutboxMessage.channel), OutboxMessage.scheduled_for)
        .where(
            OutboxMessage.tenant_id == tenant_id,
            uuid_in(conn, OutboxMessage.customer_id, chunk),
            id_span(conn, OutboxMessage.customer_id, chunk),
            OutboxMessage.scheduled_for >= since,
            OutboxMessage.status.not_in([OutboxStatus.CANCELLED, OutboxStatus.FAILED]),
        )
        .order_by(OutboxMessage.customer_id, OutboxMessage.scheduled_for)
    ).all():
        view = views[customer_id]
        local = scheduled_for.astimezone(timezone_for_uf(view.uf)).date()
        view.history.append((local, _CHANNELS[channel]))


def _profile_sql(
    conn: Connection, late_month_starts: Sequence[date], min_late_months: int | None
) -> str:
    """The per-customer aggregate behind segment features, over ``:ids`` (see
    :func:`features`); with ``min_late_months``, only customers with that many late months."""
    late_days = days_between_sql(conn, "x.last_paid_on", "x.due_date")
    paid_late = f"(x.status = 'paid' AND x.last_paid_on IS NOT NULL AND {late_days} > :grace)"
    overdue_now = "(x.status = 'open' AND x.balance_cents > 0 AND x.due_date <= :cutoff)"
    ids_clause = "x.customer_id = ANY(:ids)" if is_postgres(conn) else "x.customer_id IN :ids"
    # One MAX per month of the window rather than COUNT(DISTINCT month): a distinct aggregate
    # sorts each group's values on its own, on both databases — per customer, tens of
    # thousands of small sorts a day.
    months = range(len(late_month_starts) - 1)
    late_months = " + ".join(
        f"MAX(CASE WHEN x.due_date >= :m{k} AND x.due_date < :m{k + 1} AND ({paid_late} OR "
        f"{overdue_now}) THEN 1 ELSE 0 END)"
        for k in months
    )
    having = "" if min_late_months is None else f" HAVING ({late_months}) >= :min_late"
    # Every column read here is in ix_receivable_customer_profile, and each título carries its
    # latest payment date (kept by triggers on payment): an index-only scan, no heap and no
    # payment lookups.
    return (
        "SELECT x.customer_id, MIN(x.issue_date) AS first_issue, MIN(x.due_date) AS first_due, "
        "SUM(CASE WHEN x.status = 'open' AND x.balance_cents > 0 AND x.due_date <= :cutoff "
        "AND x.due_date > :prescribed THEN x.balance_cents ELSE 0 END) AS overdue_cents, "
        f"({late_months}) AS late_months, "
        f"SUM(CASE WHEN x.due_date >= :loyal_since AND {paid_late} THEN 1 ELSE 0 END) "
        "AS paid_late_recent, "
        "MAX(CASE WHEN x.last_paid_on IS NOT NULL THEN 1 ELSE 0 END) AS ever_paid, "
        "MAX(CASE WHEN x.status = 'agreement' THEN 1 ELSE 0 END) AS in_agreement "
        f"FROM receivable AS x WHERE x.tenant_id = :t AND {ids_clause} GROUP BY x.customer_id"
        f"{having}"
    )


def _profile_params(
    conn: Connection,
    tenant_id: uuid.UUID,
    *,
    cutoff: date,
    prescribed_on: date,
    late_month_starts: Sequence[date],
    loyal_since: date,
) -> list[Any]:
    """The parameters of :func:`_profile_sql` (its ``:min_late`` aside)."""
    return [
        bindparam("t", tenant_id, type_=Uuid()),
        uuid_param(conn, "ids"),
        bindparam("cutoff", cutoff, type_=Date()),
        bindparam("prescribed", prescribed_on, type_=Date()),
        *(bindparam(f"m{k}", start, type_=Date()) for k, start in enumerate(late_month_starts)),
        bindparam("loyal_since", loyal_since, type_=Date()),
        bindparam("grace", LATE_GRACE_DAYS, type_=Integer()),
    ]


def features(
    conn: Connection,
    tenant_id: uuid.UUID,
    customer_ids: Sequence[uuid.UUID],
    *,
    cutoff: date,
    prescribed_on: date,
    late_month_starts: Sequence[date],
    loyal_since: date,
) -> dict[uuid.UUID, CustomerFeatures]:
    """Segment features of customers opening a case, aggregated in SQL."""
    sql = _joined_to_customer(
        conn,
        f"f.*, CASE WHEN {_BUSINESS_SQL} THEN 1 ELSE 0 END AS is_business",
        _profile_sql(conn, late_month_starts, None),
    )
    stmt = text(sql).bindparams(
        *_profile_params(
            conn,
            tenant_id,
            cutoff=cutoff,
            prescribed_on=prescribed_on,
            late_month_starts=late_month_starts,
            loyal_since=loyal_since,
        ),
        *_business_params(),
    )
    result: dict[uuid.UUID, CustomerFeatures] = {}
    for chunk in chunks(list(dict.fromkeys(customer_ids)), id_chunk_size(conn)):
        for row in conn.execute(stmt, {"ids": uuid_batch(conn, chunk)}).all():
            result[_as_uuid(row.customer_id)] = CustomerFeatures(
                is_business=bool(row.is_business),
                overdue_balance=from_cents(int(row.overdue_cents or 0)),
                ever_paid=bool(row.ever_paid),
                first_issue=_as_date(row.first_issue),
                first_due=_as_date(row.first_due),
                late_months=int(row.late_months or 0),
                paid_late_recent=int(row.paid_late_recent or 0),
            )
    return result


# A business debtor (rules._matches "business"): a CNPJ not flagged as a consumer.
_BUSINESS_SQL = "(c.document_kind = :cnpj AND c.consumer = :not_consumer)"


def _business_params() -> list[Any]:
    return [
        bindparam("cnpj", DocumentKind.CNPJ.value, type_=String()),
        bindparam("not_consumer", False, type_=Boolean()),
    ]


def _joined_to_customer(conn: Connection, columns: str, profile_sql: str) -> str:
    """``columns`` of :func:`_profile_sql`'s rows (``f.``) joined to their customer (``c.``).

    The customer range is repeated on the customer side: joined to the aggregate alone,
    PostgreSQL estimates the groups from the títulos and hash-joins a scan of every customer
    of the tenant.
    """
    ids_clause = "c.id = ANY(:ids)" if is_postgres(conn) else "c.id IN :ids"
    return (
        f"SELECT {columns} FROM ({profile_sql}) AS f "
        f"JOIN customer AS c ON c.id = f.customer_id "
        f"WHERE c.tenant_id = :t AND {ids_clause}"
    )


def _segment_sql(segment: SegmentDef, day: date, k: int) -> tuple[str, list[Any]]:
    """:func:`adimple.cadence.rules._matches` as a condition on :func:`_profile_sql`'s
    columns (``f.``) and the customer row (``c.``), so pre-due reminders can choose segments in
    the database. The two must agree: the reference-equivalence property test runs the
    Python rule (reference engine) against this one (set-based engine) on random segments."""
    params = segment.params
    match segment.kind:
        case "high_balance":
            threshold = Decimal(str(params.get("min_balance", "5000.00")))
            # balance ≥ threshold ⇔ centavos ≥ the threshold in centavos, rounded up
            cents = int((threshold * 100).to_integral_value(rounding="ROUND_CEILING"))
            return f"f.overdue_cents >= :s{k}", [bindparam(f"s{k}", cents, type_=BigInteger())]
        case "business":
            return _BUSINESS_SQL, _business_params()
        case "never_paid":
            since = day - timedelta(days=int(params.get("within_days", 120)))
            return (
                f"(f.ever_paid = 0 AND f.first_issue >= :s{k})",
                [bindparam(f"s{k}", since, type_=Date())],
            )
        case "chronic_late":
            minimum = int(params.get("min_months", 3))
            return f"f.late_months >= :s{k}", [bindparam(f"s{k}", minimum, type_=Integer())]
        case "loyal_first_late":
            since = same_day_months_back(day, int(params.get("months", 12)))
            return (
                f"(f.paid_late_recent = 0 AND f.first_due <= :s{k})",
                [bindparam(f"s{k}", since, type_=Date())],
            )
        case "always" | "preventive":
            return "1 = 1", []
    return "1 = 0", []


class ReminderChoice(NamedTuple):
    """A customer's pre-due reminder segment, as :func:`reminder_segments` chose it."""

    customer_id: uuid.UUID
    segment: int  # index into the candidate segments
    in_agreement: bool
    customer: tuple[Any, ...]  # the customer's _VIEW_COLUMNS, for load_reminded


def reminder_segments(
    conn: Connection,
    tenant_id: uuid.UUID,
    customer_ids: Sequence[uuid.UUID],
    candidates: Sequence[SegmentDef],
    *,
    day: date,
    cutoff: date,
    prescribed_on: date,
    late_month_starts: Sequence[date],
    loyal_since: date,
    min_late_months: int | None = None,
) -> list[ReminderChoice]:
    """Which of ``candidates`` each customer hears pre-due reminders from (the first that
    matches, as :func:`adimple.cadence.rules.reminder_segment`), decided in SQL, for those
    with one — with the customer row the statement reads anyway, for :func:`load_reminded`.

    A day has tens of thousands of reminder candidates and most get nothing: their features
    and customer rows stay in the database. With ``min_late_months`` (see ``_plan_reminders``)
    the customers with fewer late months are dropped first, by the aggregate alone: joined
    to the customer row in the same statement, PostgreSQL cannot know how few groups pass
    and reads every candidate's customer row first (3,400 rows read for 130 kept, a third of
    the statement's time at 10M títulos).
    """
    if not candidates:
        return []
    params = _profile_params(
        conn,
        tenant_id,
        cutoff=cutoff,
        prescribed_on=prescribed_on,
        late_month_starts=late_month_starts,
        loyal_since=loyal_since,
    )
    ids = list(dict.fromkeys(customer_ids))
    if min_late_months is not None:
        ids = _late_enough(conn, ids, late_month_starts, params, min_late_months)
    whens: list[str] = []
    for k, segment in enumerate(candidates):
        condition, extra = _segment_sql(segment, day, k)
        whens.append(f"WHEN {condition} THEN {k}")
        known = {p.key for p in params}  # two business segments share their parameters
        params.extend(p for p in extra if p.key not in known)
    stmt = text(
        _joined_to_customer(
            conn,
            f"f.customer_id, CASE {' '.join(whens)} END AS segment, f.in_agreement, "
            + ", ".join(f"c.{column.key}" for column in _VIEW_COLUMNS[1:]),
            _profile_sql(conn, late_month_starts, None),
        )
    ).bindparams(*params)
    found: list[ReminderChoice] = []
    for chunk in chunks(ids, id_chunk_size(conn)):
        for row in conn.execute(stmt, {"ids": uuid_batch(conn, chunk)}).all():
            if row[1] is not None:
                customer_id = _as_uuid(row[0])
                found.append(
                    ReminderChoice(customer_id, int(row[1]), bool(row[2]), (customer_id, *row[3:]))
                )
    return found


def _late_enough(
    conn: Connection,
    customer_ids: list[uuid.UUID],
    late_month_starts: Sequence[date],
    params: list[Any],
    min_late_months: int,
) -> list[uuid.UUID]:
    """Those of ``customer_ids`` late in at least ``min_late_months`` months of the window
    (``params``: :func:`_profile_params`)."""
    stmt = text(
        f"SELECT f.customer_id FROM ({_profile_sql(conn, late_month_starts, min_late_months)}) AS f"
    ).bindparams(*params, bindparam("min_late", min_late_months, type_=Integer()))
    kept: list[uuid.UUID] = []
    for chunk in chunks(customer_ids, id_chunk_size(conn)):
        kept += (
            _as_uuid(c)
            for c in conn.execute(stmt, {"ids": uuid_batch(conn, chunk)}).scalars().all()
        )
    return kept


def load_reminded(
    conn: Connection,
    tenant_id: uuid.UUID,
    reminded: Sequence[ReminderChoice],
    *,
    day: date,
    attempts_window_days: int,
) -> dict[uuid.UUID, CustomerView]:
    """The planner's views of customers getting a pre-due reminder: the customer row (read
    with the segment), contact points, opt-outs and recent attempts (no overdue títulos: they
    have none in collection)."""
    views = {c.customer_id: _view(c.customer, c.in_agreement) for c in reminded}
    for ids_chunk in chunks(list(views), id_chunk_size(conn)):
        _fill_contacts(
            conn, tenant_id, uuid_batch(conn, ids_chunk), views, day, attempts_window_days
        )
    return views


def _as_uuid(value: Any) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))
