"""The daily cycle (``adimple plan`` / ``adimple run``): the set-based engine.

For each customer-id partition, in one transaction: select the cases with a step due and
the customers newly overdue (indexed SQL), load just those customers in bulk, decide in
Python with :mod:`adimple.cadence.planner`, and write cases, outbox rows, tasks and
suppressions with ``INSERT … ON CONFLICT DO NOTHING`` on idempotency keys — so running a date
twice adds nothing, and a run cut off half-way is completed by running it again.
"""

from __future__ import annotations

import gc
import hashlib
import multiprocessing
import os
import time as clock
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, Table, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from adimple.cadence import repository as repo
from adimple.cadence.models import (
    BureauStatus,
    CaseEvent,
    CollectionCase,
    ContactSuppression,
    CreditBureauRecord,
    CycleRun,
    CycleRunStatus,
)
from adimple.cadence.planner import (
    CaseState,
    CustomerView,
    CycleError,
    Plan,
    PlanContext,
    ReceivableView,
    advance_case,
    open_case,
    plan_reminders,
    pre_due_steps,
)
from adimple.cadence.rules import (
    CustomerFeatures,
    StepDef,
    due_dates_for,
    min_late_months,
    month_starts,
    reminder_candidates,
    same_day_months_back,
    segment_window,
)
from adimple.compliance.rules import (
    DEFAULT_POLICY,
    CompliancePolicy,
    CreditorFacts,
    creditor_identified,
    prescription_limit,
)
from adimple.db.base import utcnow
from adimple.db.dialect import (
    advisory_unlock,
    insert_rows,
    is_postgres,
    try_advisory_lock,
    update_rows,
    uuid_in,
)
from adimple.kit.calendar import overdue_cutoff
from adimple.kit.ids import time_ordered_uuids, with_time_ordered_ids
from adimple.messaging.models import (
    OutboxMessage,
    OutboxReceivable,
    OutboxStatus,
    Task,
)
from adimple.negotiation.service import check_agreements
from adimple.tenancy.models import Tenant

# A running row older than this is a crashed run (SQLite lock row); PostgreSQL's advisory
# lock is released by the server when the holder's connection dies.
STALE_RUN = timedelta(minutes=15)


def _table(model: Any) -> Table:
    return model.__table__


class CycleBusy(Exception):
    """Another run for the same tenant is in progress."""

    def __init__(self, tenant: Tenant, running_date: date | None = None) -> None:
        when = f" (date {running_date})" if running_date else ""
        super().__init__(
            f"another daily cycle for tenant {tenant.slug!r}{when} is running; try again later"
        )


@dataclass
class Config:
    """What the cycle needs that does not change between partitions."""

    tenant_id: uuid.UUID
    day: date
    creditor_ok: bool
    steps: dict[uuid.UUID, list[StepDef]]
    segments: list[repo.SegmentDef]
    versions: dict[str, uuid.UUID]
    policy: CompliancePolicy = DEFAULT_POLICY
    since: repo.LastRun | None = None

    @property
    def cutoff(self) -> date:
        return overdue_cutoff(self.day)

    @property
    def prescribed_on(self) -> date:
        return prescription_limit(self.day)


@dataclass
class PartitionResult:
    plan: Plan
    cases: list[CaseState] = field(default_factory=list)


def load_config(
    conn: Connection, tenant: Tenant, day: date, policy: CompliancePolicy = DEFAULT_POLICY
) -> Config:
    segments = repo.load_segments(conn, tenant.id)
    if not segments:
        raise CycleError(
            f"tenant {tenant.slug!r} has no segments: install the defaults "
            "(adimple cadence install-defaults) or import a segments file"
        )
    if not any(s.kind == "always" for s in segments):
        raise CycleError(f"tenant {tenant.slug!r} needs one segment of kind 'always'")
    creditor = CreditorFacts(
        tenant.legal_name, tenant.document, tenant.address, tenant.city, tenant.uf
    )
    return Config(
        tenant_id=tenant.id,
        day=day,
        creditor_ok=creditor_identified(creditor),
        steps=repo.load_steps(conn, tenant.id),
        segments=segments,
        versions=repo.current_versions(conn, tenant.id),
        policy=policy,
        since=repo.last_run(conn, tenant.id, day),
    )


def plan_partition(conn: Connection, config: Config, part: repo.Partition) -> PartitionResult:
    """Decides one partition's day. Reads only; :func:`write_partition` applies the result."""
    day, tenant_id = config.day, config.tenant_id
    plan = Plan(day)
    ctx = PlanContext(day=day, creditor_identified=config.creditor_ok, policy=config.policy)

    due = repo.due_cases(conn, tenant_id, day, part)
    new_customers = repo.uncovered_customers(
        conn,
        tenant_id,
        cutoff=config.cutoff,
        prescribed_on=config.prescribed_on,
        part=part,
        since=config.since,
    )
    loaded = _load(conn, config, [row.customer_id for row in due] + new_customers)

    states: list[CaseState] = [_state(row) for row in due]
    if new_customers:
        feats = _features(conn, config, new_customers)
        for customer_id in sorted(new_customers):
            states.append(
                open_case(
                    day,
                    loaded.views[customer_id],
                    feats[customer_id],
                    config.segments,
                    config.versions,
                    config.steps,
                )
            )

    for state in sorted(states, key=lambda s: loaded.views[s.customer_id].external_id):
        if state.next_step_on is None or state.next_step_on > day:
            continue  # a new case whose first step is still ahead
        advance_case(
            ctx,
            plan,
            state,
            loaded.views[state.customer_id],
            config.steps.get(state.cadence_version_id, []),
            overdue_any=state.customer_id in loaded.overdue_any,
        )

    _plan_reminders(conn, config, part, ctx, plan, states, loaded.views)
    return PartitionResult(plan, states)


def _load(conn: Connection, config: Config, customer_ids: list[uuid.UUID]) -> repo.Loaded:
    return repo.load_customers(
        conn,
        config.tenant_id,
        customer_ids,
        day=config.day,
        cutoff=config.cutoff,
        prescribed_on=config.prescribed_on,
        attempts_window_days=config.policy.attempts_window_days,
    )


def _features(
    conn: Connection,
    config: Config,
    customer_ids: list[uuid.UUID],
) -> dict[uuid.UUID, CustomerFeatures]:
    chronic, loyal = segment_window(config.segments)
    return repo.features(
        conn,
        config.tenant_id,
        customer_ids,
        cutoff=config.cutoff,
        prescribed_on=config.prescribed_on,
        late_month_starts=month_starts(config.day, chronic),
        loyal_since=same_day_months_back(config.day, loyal),
    )


def _state(row: Any) -> CaseState:
    return CaseState(
        id=row.id,
        customer_id=row.customer_id,
        status=row.status.value,
        segment=row.segment,
        segment_reason="",
        cadence_version_id=row.cadence_version_id,
        anchor_receivable_id=row.anchor_receivable_id,
        anchor_due=row.anchor_due_date,
        last_position=row.last_position,
        last_step_key=None,
        last_step_on=None,
        next_step_on=row.next_step_on,
        pause_reason=row.pause_reason,
        risk_band=row.risk_band,
        opened_on=row.anchor_due_date,
    )


def _plan_reminders(
    conn: Connection,
    config: Config,
    part: repo.Partition,
    ctx: PlanContext,
    plan: Plan,
    states: list[CaseState],
    views: dict[uuid.UUID, CustomerView],
) -> None:
    """Pre-due reminders, per due date, for customers with nothing in collection.

    The títulos whose reminder falls today are found by the due-date index (every due date
    any cadence's pre-due step maps to today); the customers' segments then decide which of
    those steps apply to them.
    """
    day, tenant_id = config.day, config.tenant_id
    # Only the cadences a customer with nothing overdue can be on have reminders to send.
    candidates = reminder_candidates(config.segments)
    reachable = {
        config.versions[s.cadence_name] for s in candidates if s.cadence_name in config.versions
    }
    by_version = {vid: pre_due_steps(config.steps, vid) for vid in reachable}
    dates = sorted(
        {d for steps in by_version.values() for s in steps for d in due_dates_for(day, s)}
    )
    # Who has a título due on one of those dates (a bit mask over ``dates``), from the
    # due-date index alone: most candidates get no reminder, and a título's row is read only
    # for those who do.
    grouped = dict(repo.reminder_due_dates(conn, tenant_id, dates, part))
    if not grouped:
        return
    # Customers in collection at the end of today hear about their case, not reminders.
    touched = {s.customer_id: s.live for s in states}
    live_before = repo.live_case_customers(conn, tenant_id, list(grouped))  # any order
    eligible = [c for c in grouped if not touched.get(c, c in live_before)]
    if not eligible:
        return
    # A customer hears only from the segments whose reminders fall on its títulos' due dates.
    # Where those are all chronic-late-payer segments (the D-5 and D-1 reminders of the
    # default régua: about 60 % of the candidates), the customer needs that many late months
    # to hear anything, and SQL drops the rest before their features reach Python.
    serves: dict[date, set[int]] = defaultdict(set)  # due date → indexes into candidates
    for index, candidate in enumerate(candidates):
        version = config.versions.get(candidate.cadence_name)
        for step in by_version.get(version, []) if version else []:
            for due in due_dates_for(day, step):
                serves[due].add(index)
    by_minimum: dict[int | None, list[uuid.UUID]] = defaultdict(list)
    minimum_for: dict[int, int | None] = {}  # by due-date mask: a handful of them
    for customer_id in eligible:
        mask = grouped[customer_id]
        if mask not in minimum_for:
            reach = {i for k, due in enumerate(dates) if mask >> k & 1 for i in serves[due]}
            minimum_for[mask] = min_late_months([candidates[i] for i in reach])
        by_minimum[minimum_for[mask]].append(customer_id)
    # Each customer's segment is chosen in SQL, from the same features a case's would be.
    chronic, loyal = segment_window(config.segments)
    segment_of: list[repo.ReminderChoice] = []
    for minimum, customer_ids in by_minimum.items():
        segment_of += repo.reminder_segments(
            conn,
            tenant_id,
            customer_ids,
            candidates,
            day=day,
            cutoff=config.cutoff,
            prescribed_on=config.prescribed_on,
            late_month_starts=month_starts(day, chronic),
            loyal_since=same_day_months_back(day, loyal),
            min_late_months=minimum,
        )
    # The due dates each step reminds about today (step_date(due, step) == day exactly then),
    # and as a mask over ``dates``.
    step_dues = {
        vid: [(step, frozenset(due_dates_for(day, step))) for step in steps]
        for vid, steps in by_version.items()
    }
    step_masks = {
        vid: [sum(1 << k for k, due in enumerate(dates) if due in dues) for _, dues in pairs]
        for vid, pairs in step_dues.items()
    }
    version_of = [config.versions.get(c.cadence_name) for c in candidates]
    chosen: list[tuple[uuid.UUID, uuid.UUID, list[tuple[StepDef, frozenset[date]]]]] = []
    choice_of: dict[uuid.UUID, repo.ReminderChoice] = {}
    for choice in segment_of:
        version_id = version_of[choice.segment]
        if version_id is None:
            continue
        mask = grouped[choice.customer_id]
        steps = [
            pair
            for pair, step_mask in zip(step_dues[version_id], step_masks[version_id], strict=True)
            if step_mask & mask
        ]
        if steps:
            chosen.append((choice.customer_id, version_id, steps))
            choice_of[choice.customer_id] = choice
    if not chosen:
        return
    titulos = repo.reminder_receivables(conn, tenant_id, dates, list(choice_of))
    todo: list[tuple[uuid.UUID, uuid.UUID, StepDef, list[ReceivableView]]] = []
    for customer_id, version_id, steps in chosen:
        for step, step_due in steps:
            receivables = [r for r in titulos.get(customer_id, ()) if r.due_date in step_due]
            if receivables:  # none when the títulos due that day have no balance left
                todo.append((customer_id, version_id, step, receivables))
    # Contact points, opt-outs and history only for those who do get one.
    missing = list({c: choice_of[c] for c, _, _, _ in todo if c not in views}.values())
    if missing:
        views.update(
            repo.load_reminded(
                conn,
                tenant_id,
                missing,
                day=day,
                attempts_window_days=config.policy.attempts_window_days,
            )
        )
    todo.sort(key=lambda item: views[item[0]].external_id)  # stable: steps keep their order
    for customer_id, version_id, step, receivables in todo:
        plan_reminders(ctx, plan, views[customer_id], version_id, step, receivables)


# --- writing ---------------------------------------------------------------------------------


def write_partition(conn: Connection, config: Config, result: PartitionResult) -> None:
    """Applies a partition's plan in the caller's transaction; idempotent by keys."""
    now = utcnow()
    tenant_id, day = config.tenant_id, config.day
    new_cases = [s for s in result.cases if s.is_new]
    if new_cases:
        insert_rows(
            conn,
            _table(CollectionCase),
            [
                {
                    "id": s.id,
                    "tenant_id": tenant_id,
                    "customer_id": s.customer_id,
                    "status": s.status,
                    "segment": s.segment,
                    "segment_reason": s.segment_reason[:300],
                    "cadence_version_id": s.cadence_version_id,
                    "anchor_receivable_id": s.anchor_receivable_id,
                    "anchor_due_date": s.anchor_due,
                    "opened_on": s.opened_on,
                    "last_position": s.last_position,
                    "last_step_key": s.last_step_key,
                    "last_step_on": s.last_step_on,
                    "next_step_on": s.next_step_on,
                    "pause_reason": s.pause_reason,
                    "risk_band": s.risk_band,
                    "closed_on": s.closed_on,
                    "close_reason": s.close_reason,
                    "created_at": now,
                    "updated_at": now,
                }
                for s in new_cases
            ],
            ignore_conflicts=False,
        )
    changed = [s for s in result.cases if not s.is_new]
    table = _table(CollectionCase)
    update_rows(
        conn,
        table,
        [
            {
                "id": s.id,
                "status": s.status,
                "anchor_receivable_id": s.anchor_receivable_id,
                "anchor_due_date": s.anchor_due,
                "last_position": s.last_position,
                "next_step_on": s.next_step_on,
                "pause_reason": s.pause_reason,
                "closed_on": s.closed_on,
                "close_reason": s.close_reason,
                # Known only when a step was taken today (cases are loaded without them).
                "last_step_key": s.last_step_key if s.last_step_on == day else None,
                "last_step_on": day if s.last_step_on == day else None,
                "updated_at": now,
            }
            for s in changed
        ],
        keep_when_null=("last_step_key", "last_step_on"),
    )
    _write_events(conn, tenant_id, day, result.cases, now)
    _cancel_for_closed_cases(conn, tenant_id, result.cases, now)
    _write_contacts(conn, tenant_id, day, result.plan, now)
    _write_rest(conn, tenant_id, day, result.plan, now)


def _write_events(
    conn: Connection, tenant_id: uuid.UUID, day: date, cases: list[CaseState], now: datetime
) -> None:
    rows = []
    ids = iter(time_ordered_uuids(sum(len(state.events) for state in cases)))
    for state in cases:
        for kind, step_key, data in state.events:
            if kind in ("step", "skipped"):
                key = f"{kind}:{state.id}:{step_key}"
            elif kind in ("opened", "cured", "closed"):
                key = f"{kind}:{state.id}"
            else:
                key = f"{kind}:{state.id}:{day.isoformat()}"
            rows.append(
                {
                    "id": next(ids),
                    "tenant_id": tenant_id,
                    "case_id": state.id,
                    "kind": kind,
                    "step_key": step_key,
                    "on_date": day,
                    "idempotency_key": key,
                    "data": data,
                    "created_at": now,
                }
            )
    if rows:
        insert_rows(conn, _table(CaseEvent), rows)


def _cancel_for_closed_cases(
    conn: Connection, tenant_id: uuid.UUID, cases: list[CaseState], now: datetime
) -> None:
    """Payment, prescription or an agreement stops every contact still queued for the case."""
    by_reason: dict[str, list[CaseState]] = defaultdict(list)
    for state in cases:
        if state.status in ("cured", "closed"):
            by_reason[state.close_reason or "paid"].append(state)
        elif state.status == "paused":
            by_reason[state.pause_reason or "paused"].append(state)
    table = _table(OutboxMessage)
    for reason, states in by_reason.items():
        for chunk in repo.chunks(states):
            conn.execute(
                update(table)
                .where(
                    table.c.tenant_id == tenant_id,
                    # By customer too, so the (tenant, customer) index finds the rows: by
                    # status alone PostgreSQL walked every queued message (a dispatcher's
                    # backlog, or contacts waiting for Monday's window) once per statement.
                    uuid_in(conn, table.c.customer_id, [s.customer_id for s in chunk]),
                    uuid_in(conn, table.c.case_id, [s.id for s in chunk]),
                    table.c.status == OutboxStatus.QUEUED.value,
                )
                .values(status=OutboxStatus.CANCELLED.value, cancel_reason=reason, updated_at=now)
            )


def _write_contacts(
    conn: Connection, tenant_id: uuid.UUID, day: date, plan: Plan, now: datetime
) -> None:
    if not plan.contacts:
        return
    rows = [
        {
            "id": row_id,
            "tenant_id": tenant_id,
            "customer_id": c.customer_id,
            "case_id": c.case_id,
            "contact_point_id": c.contact_point_id,
            "channel": c.channel.value,
            "address": c.address,
            "step_key": c.step_key,
            "template": c.template,
            "cadence_version_id": c.cadence_version_id,
            "plan_date": day,
            "idempotency_key": c.idempotency_key,
            "scheduled_for": c.scheduled_for,
            "status": OutboxStatus.QUEUED.value,
            "attempts": 0,
            "next_attempt_at": c.scheduled_for,
            "data": {"receivable_external_ids": [r.external_id for r in c.receivables]},
            "created_at": now,
            "updated_at": now,
        }
        for row_id, c in with_time_ordered_ids(plan.contacts)
    ]
    inserted = {
        _uuid(v) for v in insert_rows(conn, _table(OutboxMessage), rows, returning_ids=True)
    }
    links = [
        {"tenant_id": tenant_id, "outbox_id": row["id"], "receivable_id": r.id}
        for row, contact in zip(rows, plan.contacts, strict=True)
        if row["id"] in inserted
        for r in contact.receivables
    ]
    insert_rows(conn, _table(OutboxReceivable), links, ignore_conflicts=False)


def _uuid(value: Any) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def _write_rest(
    conn: Connection, tenant_id: uuid.UUID, day: date, plan: Plan, now: datetime
) -> None:
    if plan.tasks:
        insert_rows(
            conn,
            _table(Task),
            [
                {
                    "id": row_id,
                    "tenant_id": tenant_id,
                    "customer_id": t.customer_id,
                    "case_id": t.case_id,
                    "kind": t.kind,
                    "status": "open",
                    "step_key": t.step_key,
                    "idempotency_key": t.idempotency_key,
                    "due_on": day,
                    "priority": 0,
                    "title": t.title,
                    "data": t.data,
                    "created_at": now,
                    "updated_at": now,
                }
                for row_id, t in with_time_ordered_ids(plan.tasks)
            ],
        )
    if plan.suppressed:
        insert_rows(
            conn,
            _table(ContactSuppression),
            [
                {
                    "id": row_id,
                    "tenant_id": tenant_id,
                    "customer_id": s.customer_id,
                    "case_id": s.case_id,
                    "plan_date": day,
                    "step_key": s.step_key,
                    "channel": s.channel.value if s.channel else None,
                    "reason": s.reason.value,
                    "idempotency_key": s.idempotency_key,
                    "created_at": now,
                }
                for row_id, s in with_time_ordered_ids(plan.suppressed)
            ],
        )
    if plan.bureau_notices:
        insert_rows(
            conn,
            _table(CreditBureauRecord),
            [
                {
                    "id": row_id,
                    "tenant_id": tenant_id,
                    "customer_id": n.customer_id,
                    "receivable_id": n.receivable_id,
                    "case_id": n.case_id,
                    "status": BureauStatus.NOTICE_SENT.value,
                    "amount_cents": n.amount,
                    "notice_sent_on": day,
                    "eligible_on": n.eligible_on,
                    "created_at": now,
                    "updated_at": now,
                }
                for row_id, n in with_time_ordered_ids(plan.bureau_notices)
            ],
        )
    if plan.bureau_activations:
        table = _table(CreditBureauRecord)
        for chunk in repo.chunks(plan.bureau_activations):
            conn.execute(
                update(table)
                .where(
                    table.c.tenant_id == tenant_id,
                    table.c.id.in_(chunk),
                    table.c.status == BureauStatus.NOTICE_SENT.value,
                )
                .values(status=BureauStatus.ACTIVE.value, activated_on=day, updated_at=now)
            )


# --- running ----------------------------------------------------------------------------------


@dataclass
class DaySummary:
    """What a day's cycle did, counted. A run keeps only this of each partition's plan: a
    first run at 10M títulos plans hundreds of thousands of cases and millions of events,
    and parallel workers would otherwise send every planned row back to the parent."""

    contacts: Counter[tuple[str, str]] = field(default_factory=Counter)  # (step, channel)
    tasks: Counter[tuple[str, str]] = field(default_factory=Counter)  # (step, action)
    suppressed: Counter[str] = field(default_factory=Counter)  # reason
    cases: Counter[str] = field(default_factory=Counter)  # opened, cured, paused, …
    steps: int = 0

    @classmethod
    def of(cls, plan: Plan, cases: list[CaseState]) -> DaySummary:
        summary = cls(
            contacts=Counter((c.step_key, c.channel.value) for c in plan.contacts),
            tasks=Counter((t.step_key, t.action) for t in plan.tasks),
            suppressed=Counter(s.reason.value for s in plan.suppressed),
            steps=sum(1 for a in plan.advances if a.decision.executed is not None),
        )
        for c in cases:
            if c.is_new:
                summary.cases["opened"] += 1
            for kind, _, _ in c.events:
                if kind in ("cured", "closed", "paused", "resumed", "skipped"):
                    summary.cases[kind] += 1
        return summary

    def add(self, other: DaySummary) -> None:
        self.contacts.update(other.contacts)
        self.tasks.update(other.tasks)
        self.suppressed.update(other.suppressed)
        self.cases.update(other.cases)
        self.steps += other.steps

    def stats(self, seconds: float) -> dict[str, Any]:
        """The ``adimple run`` JSON (DESIGN §6)."""
        return {
            "contacts": sum(self.contacts.values()),
            "tasks": sum(self.tasks.values()),
            "suppressed": sum(self.suppressed.values()),
            "suppressed_by_reason": dict(sorted(self.suppressed.items())),
            "cases": dict(sorted(self.cases.items())),
            "steps": self.steps,
            "seconds": round(seconds, 3),
        }


@dataclass
class CycleOutcome:
    summary: DaySummary
    stats: dict[str, Any]
    plan: Plan | None = None  # the dry run's whole plan; a run keeps only the summary


@contextmanager
def _fewer_collections() -> Iterator[None]:
    """Keeps Python's cyclic garbage collector out of the cycle's way, then restores it.

    A partition allocates hundreds of thousands of short-lived objects (rows, views, planned
    contacts) that form no cycles; every young-generation run of the collector, and every
    older one those trigger, would re-walk them and all that was alive before (modules,
    SQLAlchemy's mappings). Freezing what exists and collecting less often leaves reference
    counting to free them. Worker processes forked inside inherit the setting.
    """
    threshold = gc.get_threshold()
    frozen_before = gc.get_freeze_count() > 0  # a process that froze its own start-up
    gc.freeze()
    gc.set_threshold(50_000, threshold[1], threshold[2])
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
        if not frozen_before:
            gc.unfreeze()


def plan_day(
    engine: Engine,
    tenant: Tenant,
    day: date,
    *,
    partitions: int = 1,
    policy: CompliancePolicy = DEFAULT_POLICY,
) -> CycleOutcome:
    """The dry run: what ``run`` would do, computed and printed, nothing written."""
    started = clock.perf_counter()
    total = Plan(day)
    summary = DaySummary()
    with _fewer_collections(), engine.connect() as conn:
        config = load_config(conn, tenant, day, policy)
        for part in repo.partitions(partitions):
            result = plan_partition(conn, config, part)
            _merge(total, result.plan)
            summary.add(DaySummary.of(result.plan, result.cases))
        conn.rollback()
    return CycleOutcome(summary, summary.stats(clock.perf_counter() - started), total)


def _merge(total: Plan, part: Plan) -> None:
    total.contacts.extend(part.contacts)
    total.tasks.extend(part.tasks)
    total.suppressed.extend(part.suppressed)
    total.advances.extend(part.advances)
    total.bureau_notices.extend(part.bureau_notices)
    total.bureau_activations.extend(part.bureau_activations)


def run_day(
    engine: Engine,
    tenant: Tenant,
    day: date,
    *,
    partitions: int = 1,
    workers: int | None = None,
    policy: CompliancePolicy = DEFAULT_POLICY,
    on_partition: Callable[[int, int], None] | None = None,
) -> CycleOutcome:
    """Runs the cycle: one transaction per partition, under the tenant's cycle lock.

    On PostgreSQL the partitions run in ``workers`` processes at once (default: one per
    core); SQLite has a single writer, so they run one after the other in this process.
    """
    started = clock.perf_counter()
    with _fewer_collections(), cycle_lock(engine, tenant, day) as run_id:
        try:
            # Agreements broken or lapsed today reopen their títulos before the day is planned.
            with Session(engine) as session, session.begin():
                check_agreements(session, tenant_id=tenant.id, on=day)
            with engine.connect() as conn:
                config = load_config(conn, tenant, day, policy)
                conn.rollback()
            parts = repo.partitions(partitions)
            count = worker_count(engine, len(parts), workers)
            if count > 1:
                results = _run_in_processes(engine, config, parts, run_id, count, on_partition)
            else:
                results = []
                for index, part in enumerate(parts, start=1):
                    results.append(_run_partition(engine, config, part, run_id))
                    if on_partition:
                        on_partition(index, len(parts))
        except Exception as error:
            _finish(engine, run_id, CycleRunStatus.FAILED, {}, str(error)[:2000])
            raise
        summary = DaySummary()
        for result in results:
            summary.add(result)
        stats = summary.stats(clock.perf_counter() - started)
        _finish(engine, run_id, CycleRunStatus.DONE, stats, None)
    return CycleOutcome(summary, stats)


def worker_count(engine: Engine, partitions: int, workers: int | None) -> int:
    """Processes for a run: SQLite allows one writer at a time, so one there."""
    if engine.dialect.name != "postgresql" or partitions <= 1:
        return 1
    return max(1, min(partitions, workers if workers is not None else os.cpu_count() or 1))


def _run_partition(
    engine: Engine, config: Config, part: repo.Partition, run_id: uuid.UUID
) -> DaySummary:
    """One partition in one transaction: decide, write, beat the run's heartbeat."""
    with engine.connect() as conn, conn.begin():
        result = plan_partition(conn, config, part)
        write_partition(conn, config, result)
        _heartbeat(conn, run_id)
    return DaySummary.of(result.plan, result.cases)


# The engine a worker process uses: the parent's, inherited by fork, with a pool of its own.
_worker_engine: Engine | None = None


def _init_worker(engine: Engine) -> None:
    global _worker_engine
    # The parent's pooled connections were inherited with the fork: leave them to the
    # parent (close=False) and open fresh ones here (SQLAlchemy's documented pattern).
    engine.dispose(close=False)
    _worker_engine = engine


def _run_partition_in_worker(config: Config, part: repo.Partition, run_id: uuid.UUID) -> DaySummary:
    assert _worker_engine is not None
    return _run_partition(_worker_engine, config, part, run_id)


def _run_in_processes(
    engine: Engine,
    config: Config,
    parts: list[repo.Partition],
    run_id: uuid.UUID,
    workers: int,
    on_partition: Callable[[int, int], None] | None,
) -> list[DaySummary]:
    """Partitions in parallel processes (disjoint customer ranges, one transaction each).

    The tenant's lock stays with this process; a worker's failure fails the run, and the
    partitions already committed are simply found done when the date is run again.
    """
    results: list[DaySummary | None] = [None] * len(parts)
    pool = ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("fork"),
        initializer=_init_worker,
        initargs=(engine,),
    )
    try:
        futures = {
            pool.submit(_run_partition_in_worker, config, part, run_id): index
            for index, part in enumerate(parts)
        }
        for done, future in enumerate(as_completed(futures), start=1):
            results[futures[future]] = future.result()
            if on_partition:
                on_partition(done, len(parts))
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return [r for r in results if r is not None]


def _lock_key(tenant_id: uuid.UUID) -> int:
    digest = hashlib.sha256(b"adimple-cycle:" + tenant_id.bytes).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@contextmanager
def cycle_lock(engine: Engine, tenant: Tenant, day: date) -> Iterator[uuid.UUID]:
    """One run per tenant at a time: an advisory lock on PostgreSQL, a lock row on SQLite."""
    holder = engine.connect()
    try:
        if is_postgres(holder):
            key = _lock_key(tenant.id)
            if not try_advisory_lock(holder, key):
                raise CycleBusy(tenant)
            holder.commit()
        try:
            run_id = _claim_run_row(engine, tenant, day)
            try:
                yield run_id
            finally:
                _release_run_row(engine, run_id)
        finally:
            if is_postgres(holder):
                advisory_unlock(holder, _lock_key(tenant.id))
                holder.commit()
    finally:
        holder.close()


def _claim_run_row(engine: Engine, tenant: Tenant, day: date) -> uuid.UUID:
    now = utcnow()
    table = _table(CycleRun)
    with engine.begin() as conn:
        running = conn.execute(
            select(table.c.run_date, table.c.heartbeat_at).where(
                table.c.tenant_id == tenant.id,
                table.c.status == CycleRunStatus.RUNNING.value,
            )
        ).first()
        if running is not None and running.heartbeat_at > now - STALE_RUN:
            raise CycleBusy(tenant, running.run_date)
        existing = conn.execute(
            select(table.c.id, table.c.runs).where(
                table.c.tenant_id == tenant.id, table.c.run_date == day
            )
        ).first()
        if existing is not None:
            conn.execute(
                update(table)
                .where(table.c.id == existing.id)
                .values(
                    status=CycleRunStatus.RUNNING.value,
                    started_at=now,
                    heartbeat_at=now,
                    finished_at=None,
                    runs=existing.runs + 1,
                    error=None,
                )
            )
            return _uuid(existing.id)
        run_id = uuid.uuid4()
        try:
            conn.execute(
                table.insert().values(
                    id=run_id,
                    tenant_id=tenant.id,
                    run_date=day,
                    status=CycleRunStatus.RUNNING.value,
                    started_at=now,
                    heartbeat_at=now,
                    runs=1,
                    stats={},
                )
            )
        except IntegrityError as error:  # a concurrent run inserted it first
            raise CycleBusy(tenant) from error
        return run_id


def _release_run_row(engine: Engine, run_id: uuid.UUID) -> None:
    """A run row still ``running`` when its holder leaves was interrupted."""
    table = _table(CycleRun)
    with engine.begin() as conn:
        conn.execute(
            update(table)
            .where(table.c.id == run_id, table.c.status == CycleRunStatus.RUNNING.value)
            .values(status=CycleRunStatus.FAILED.value, finished_at=utcnow(), error="interrupted")
        )


def _heartbeat(conn: Connection, run_id: uuid.UUID) -> None:
    table = _table(CycleRun)
    conn.execute(update(table).where(table.c.id == run_id).values(heartbeat_at=utcnow()))


def _finish(
    engine: Engine,
    run_id: uuid.UUID,
    status: CycleRunStatus,
    stats: dict[str, Any],
    error: str | None,
) -> None:
    table = _table(CycleRun)
    with engine.begin() as conn:
        conn.execute(
            update(table)
            .where(table.c.id == run_id)
            .values(status=status.value, finished_at=utcnow(), stats=stats, error=error)
        )
