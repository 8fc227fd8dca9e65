"""The daily cycle's SQL: select only what has something due, load it in bulk, write it back.

Selection goes through indexes — ``collection_case (tenant_id, status, next_step_on)`` for
the cases with a step due and ``receivable (tenant_id, status, due_date)`` for newly overdue
títulos and pre-due reminders — so a day's work is proportional to what is due, not to the
size of the portfolio. Everything is scoped by tenant and by a customer-id range (the
partition one transaction handles).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Collection, Iterator, Mapping, Sequence
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


def _titulo_columns() -> tuple[Any, ...]:
    """A título as the planner reads it: customer, id, external id, due date, centavos."""
    return (
        Receivable.customer_id,
        Receivable.id,
        Receivable.external_id,
        Receivable.due_date,
        _raw(Receivable.balance, BigInteger),
    )


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


def id_span(conn: Connection, column: Any, ids: Sequence[uuid.UUID]) -> Any:
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
    return column.between(min(ids), max(ids))


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
        _fill_contacts(conn, tenant_id, chunk, ids_chunk, views, day, attempts_window_days)
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
    ids: Sequence[uuid.UUID],
    views: dict[uuid.UUID, CustomerView],
    day: date,
    attempts_window_days: int,
) -> None:
    """Contact points, opt-outs and the attempts the frequency cap counts, for one batch
    (``ids``, and ``chunk``: the same ids as a :func:`uuid_batch`)."""
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
            id_span(conn, OutboxMessage.customer_id, ids),
            OutboxMessage.scheduled_for >= since,
            OutboxMessage.status.not_in([OutboxStatus.CANCELLED, OutboxStatus.FAILED]),
        )
        .order_by(OutboxMessage.customer_id, OutboxMessage.scheduled_for)
    ).all():
        view = views[customer_id]
        local = scheduled_for.astimezone(timezone_for_uf(view.uf)).date()
        view.history.append((local, _CHANNELS[channel]))


def _profile_columns(conn: Connection, late_month_starts: Sequence[date]) -> tuple[str, str]:
    """The per-customer aggregates behind segment features, over títulos ``x`` grouped by
    customer (see :func:`features`): their select list (``x.customer_id`` first), and the
    late-months expression on its own (a ``HAVING`` of :func:`reminder_titulos` uses it)."""
    late_days = days_between_sql(conn, "x.last_paid_on", "x.due_date")
    paid_late = f"(x.status = 'paid' AND x.last_paid_on IS NOT NULL AND {late_days} > :grace)"
    overdue_now = "(x.status = 'open' AND x.balance_cents > 0 AND x.due_date <= :cutoff)"
    # One MAX per month of the window rather than COUNT(DISTINCT month): a distinct aggregate
    # sorts each group's values on its own, on both databases — per customer, tens of
    # thousands of small sorts a day.
    months = range(len(late_month_starts) - 1)
    late_months = " + ".join(
        f"MAX(CASE WHEN x.due_date >= :m{k} AND x.due_date < :m{k + 1} AND ({paid_late} OR "
        f"{overdue_now}) THEN 1 ELSE 0 END)"
        for k in months
    )
    # Every column read here is in ix_receivable_customer_profile, and each título carries its
    # latest payment date (kept by triggers on payment): an index-only scan, no heap and no
    # payment lookups.
    columns = (
        "x.customer_id, MIN(x.issue_date) AS first_issue, MIN(x.due_date) AS first_due, "
        "SUM(CASE WHEN x.status = 'open' AND x.balance_cents > 0 AND x.due_date <= :cutoff "
        "AND x.due_date > :prescribed THEN x.balance_cents ELSE 0 END) AS overdue_cents, "
        f"({late_months}) AS late_months, "
        f"SUM(CASE WHEN x.due_date >= :loyal_since AND {paid_late} THEN 1 ELSE 0 END) "
        "AS paid_late_recent, "
        "MAX(CASE WHEN x.last_paid_on IS NOT NULL THEN 1 ELSE 0 END) AS ever_paid, "
        "MAX(CASE WHEN x.status = 'agreement' THEN 1 ELSE 0 END) AS in_agreement"
    )
    return columns, f"({late_months})"


def _profile_params(
    tenant_id: uuid.UUID,
    *,
    cutoff: date,
    prescribed_on: date,
    late_month_starts: Sequence[date],
    loyal_since: date,
) -> list[Any]:
    """The parameters of :func:`_profile_columns` and of the tenant (``:t``)."""
    return [
        bindparam("t", tenant_id, type_=Uuid()),
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
    columns, _ = _profile_columns(conn, late_month_starts)
    ids_clause = "= ANY(:ids)" if is_postgres(conn) else "IN :ids"
    # The customer range is repeated on the customer side: joined to the aggregate alone,
    # PostgreSQL estimates the groups from the títulos and hash-joins a scan of every customer
    # of the tenant.
    stmt = text(
        f"SELECT f.*, CASE WHEN {_BUSINESS_SQL} THEN 1 ELSE 0 END AS is_business "
        f"FROM (SELECT {columns} FROM receivable AS x "
        f"WHERE x.tenant_id = :t AND x.customer_id {ids_clause} GROUP BY x.customer_id) AS f "
        f"JOIN customer AS c ON c.id = f.customer_id "
        f"WHERE c.tenant_id = :t AND c.id {ids_clause}"
    ).bindparams(
        *_profile_params(
            tenant_id,
            cutoff=cutoff,
            prescribed_on=prescribed_on,
            late_month_starts=late_month_starts,
            loyal_since=loyal_since,
        ),
        uuid_param(conn, "ids"),
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


def _segment_sql(segment: SegmentDef, day: date, k: int) -> tuple[str, list[Any]]:
    """:func:`adimple.cadence.rules._matches` as a condition on :func:`_profile_columns`'
    aggregates (``f.``) and the customer row (``c.``), so pre-due reminders can choose segments in
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


class ReminderTitulo(NamedTuple):
    """A título a pre-due reminder is about today, with its customer's reminder segment and
    the customer's row, as :func:`reminder_titulos` finds them."""

    customer_id: uuid.UUID
    segment: int  # index into the candidate segments
    in_agreement: bool
    customer: tuple[Any, ...]  # the customer's _VIEW_COLUMNS, for load_reminded
    titulo: ReceivableView


def reminder_titulos(
    conn: Connection,
    tenant_id: uuid.UUID,
    part: Partition,
    candidates: Sequence[SegmentDef],
    reach: Mapping[int, Collection[date]],
    floors: Mapping[date, int],
    *,
    touched: Mapping[uuid.UUID, bool],
    day: date,
    cutoff: date,
    prescribed_on: date,
    late_month_starts: Sequence[date],
    loyal_since: date,
) -> list[ReminderTitulo]:
    """The títulos the pre-due reminders of one partition are about today, in one statement.

    ``reach`` maps a candidate segment (its index in ``candidates``, the order
    :func:`adimple.cadence.rules.reminder_segment` tries them in) to the due dates its
    reminders today are about; ``floors`` maps each of those dates to the late months a
    customer must have to hear about it at all (0: none; see ``cycle._plan_reminders``).
    ``touched`` is the partition's cases after today's planning (customer → still live).

    In the database, from the due-date index to the rows: the customers with an open título
    due on one of the dates; those not in collection (no live case, or one closed today);
    their segment features (the profile index), dropping first those short of the date's
    floor; their reminder segment (the first candidate that matches); and, for those whose
    segment reminds about one of their dates, the customer row and each open título with a
    balance due on such a date. Tens of thousands of candidates a day never leave the
    database: one statement replaces five that sent and received their ids (docs/
    benchmarks.md, session 16).
    """
    if not candidates or not reach or not floors:
        return []
    postgres = is_postgres(conn)
    columns, late_months = _profile_columns(conn, late_month_starts)
    params = _profile_params(
        tenant_id,
        cutoff=cutoff,
        prescribed_on=prescribed_on,
        late_month_starts=late_month_starts,
        loyal_since=loyal_since,
    )
    dates = sorted(floors)
    params += [bindparam(f"d{k}", due, type_=Date()) for k, due in enumerate(dates)]
    floor_rows = ", ".join(f"(:d{k}, :fl{k})" for k in range(len(dates)))
    params += [bindparam(f"fl{k}", floors[due], type_=Integer()) for k, due in enumerate(dates)]
    pairs = [(k, due) for k in sorted(reach) for due in sorted(reach[k])]
    reach_rows = ", ".join(f"(:hs{n}, :d{dates.index(due)})" for n, (_, due) in enumerate(pairs))
    params += [bindparam(f"hs{n}", k, type_=Integer()) for n, (k, _) in enumerate(pairs)]
    whens: list[str] = []
    for k, segment in enumerate(candidates):
        condition, extra = _segment_sql(segment, day, k)
        whens.append(f"WHEN {condition} THEN {k}")
        known = {p.key for p in params}  # two business segments share their parameters
        params.extend(p for p in extra if p.key not in known)
    # The partition's customers (their títulos due on the dates come from the due-date index,
    # whose last column is the customer).
    mine = []
    if part.lo is not None:
        mine.append("AND r.customer_id >= :lo")
        params.append(bindparam("lo", part.lo, type_=Uuid()))
    if part.hi is not None:
        mine.append("AND r.customer_id < :hi")
        params.append(bindparam("hi", part.hi, type_=Uuid()))
    # Not in collection at the end of today: no live case before today's planning, or one
    # that today's planning closed; and none that it opened or kept.
    live = [c for c, still in touched.items() if still]
    closed = [c for c, still in touched.items() if not still]
    in_clause = "= ANY(:{})" if postgres else "IN :{}"
    eligible = (
        # Literal statuses, as in the unique live-case index's predicate.
        "NOT EXISTS (SELECT 1 FROM collection_case AS k WHERE k.tenant_id = :t "
        "AND k.customer_id = d.customer_id AND k.status IN ('open', 'paused'))"
    )
    if closed:
        eligible = f"(d.customer_id {in_clause.format('closed')} OR {eligible})"
        params.append(_id_list(conn, "closed", closed))
    if live:
        eligible += f" AND NOT (d.customer_id {in_clause.format('live')})"
        params.append(_id_list(conn, "live", live))
    view_columns = ", ".join(f"c.{column.key}" for column in _VIEW_COLUMNS[1:])
    date_list = ", ".join(f":d{k}" for k in range(len(dates)))
    # PostgreSQL: the dates' span, one index descent per customer (with the list it descends
    # once per date); the reach then keeps the títulos due on the segment's dates.
    on_dates = f"r.due_date IN ({date_list})"
    if postgres:
        on_dates = f"r.due_date BETWEEN :d0 AND :d{len(dates) - 1}"
    sql = (
        f"WITH floors (due_date, floor) AS (VALUES {floor_rows}), "
        f"reach (segment, due_date) AS (VALUES {reach_rows}), "
        # Who has an open título due on one of the dates: the due-date index alone.
        "due AS (SELECT r.customer_id, MIN(fl.floor) AS floor FROM receivable AS r "
        "JOIN floors AS fl ON fl.due_date = r.due_date "
        "WHERE r.tenant_id = :t AND r.status = 'open' "
        f"AND r.due_date IN ({date_list}) "
        f"{' '.join(mine)} GROUP BY r.customer_id), "
        # Their features, by customer from the profile index; a customer short of the
        # floor (a chronic-late-payer date) is dropped before its row is read.
        f"f AS (SELECT {columns} FROM due AS d "
        "JOIN receivable AS x ON x.tenant_id = :t AND x.customer_id = d.customer_id "
        f"WHERE {eligible} GROUP BY x.customer_id HAVING {late_months} >= MIN(d.floor)), "
        f"s AS (SELECT f.customer_id, CASE {' '.join(whens)} END AS segment, f.in_agreement, "
        f"{view_columns} FROM f JOIN customer AS c ON c.id = f.customer_id "
        "WHERE c.tenant_id = :t) "
        "SELECT s.*, r.id, r.external_id, r.due_date, r.balance_cents FROM s "
        "JOIN receivable AS r ON r.tenant_id = :t AND r.customer_id = s.customer_id "
        f"AND r.status = 'open' AND {on_dates} AND r.balance_cents > 0 "
        "WHERE EXISTS (SELECT 1 FROM reach AS h "
        "WHERE h.segment = s.segment AND h.due_date = r.due_date) "
        "ORDER BY s.customer_id, r.due_date, r.external_id"
    )
    found: list[ReminderTitulo] = []
    width = len(_VIEW_COLUMNS)
    for row in conn.execute(text(sql).bindparams(*params)).all():
        customer_id = _as_uuid(row[0])
        receivable_id, external_id, due_date, cents = row[2 + width :]
        found.append(
            ReminderTitulo(
                customer_id,
                int(row[1]),
                bool(row[2]),
                (customer_id, *row[3 : 2 + width]),
                ReceivableView(
                    _as_uuid(receivable_id), external_id, _as_date(due_date), from_cents(cents)
                ),
            )
        )
    return found


def _id_list(conn: Connection, name: str, ids: Sequence[uuid.UUID]) -> Any:
    """A list of ids as the ``:name`` of textual SQL (see :func:`uuid_param`)."""
    if is_postgres(conn):
        return bindparam(name, uuid_batch(conn, ids), type_=uuid_param(conn, name).type)
    return bindparam(name, list(ids), expanding=True, type_=Uuid())


def load_reminded(
    conn: Connection,
    tenant_id: uuid.UUID,
    reminded: Sequence[tuple[tuple[Any, ...], bool]],
    *,
    day: date,
    attempts_window_days: int,
) -> dict[uuid.UUID, CustomerView]:
    """The planner's views of customers getting a pre-due reminder, from their rows (read with
    the segment: :func:`reminder_titulos`) and whether a título of theirs is in an agreement,
    with contact points, opt-outs and recent attempts (no overdue títulos: they have none in
    collection)."""
    views = {row[0]: _view(row, in_agreement) for row, in_agreement in reminded}
    for ids_chunk in chunks(list(views), id_chunk_size(conn)):
        _fill_contacts(
            conn,
            tenant_id,
            uuid_batch(conn, ids_chunk),
            ids_chunk,
            views,
            day,
            attempts_window_days,
        )
    return views


def _as_uuid(value: Any) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))
