"""The daily cycle as a plain per-customer loop: the reference the set-based engine is held to.

It loads the tenant's whole portfolio into Python and walks every customer, deciding with the
same rules (:mod:`adimple.cadence.planner`), but with none of the engine's shortcuts: no
indexed selection, no SQL aggregation of segment features, no precomputed due-date lists.
A property test (tests/cadence/test_reference_equivalence.py) generates random portfolios and
cadences and asserts both produce the same plan. Too slow for production on purpose.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from adimple.cadence.models import (
    BureauStatus,
    Cadence,
    CadenceStep,
    CadenceVersion,
    CaseStatus,
    CollectionCase,
    CreditBureauRecord,
    Segment,
)
from adimple.cadence.planner import (
    BureauView,
    CaseState,
    CustomerView,
    Plan,
    PlanContext,
    ReceivableView,
    advance_case,
    open_case,
    plan_reminders,
    pre_due_steps,
)
from adimple.cadence.rules import (
    LATE_GRACE_DAYS,
    CustomerFeatures,
    SegmentDef,
    StepDef,
    months_back,
    reminder_segment,
    same_day_months_back,
    segment_window,
    step_date,
)
from adimple.compliance.rules import (
    DEFAULT_POLICY,
    CompliancePolicy,
    ContactPointFacts,
    CreditorFacts,
    CustomerFacts,
    creditor_identified,
    prescription_limit,
)
from adimple.kit.calendar import overdue_cutoff, timezone_for_uf
from adimple.messaging.models import OutboxMessage, OutboxStatus
from adimple.portfolio.models import (
    Channel,
    ChannelOptOut,
    ContactPoint,
    Customer,
    DocumentKind,
    Payment,
    Receivable,
    ReceivableStatus,
)
from adimple.tenancy.models import Tenant


def reference_plan(
    session: Session, tenant: Tenant, day: date, policy: CompliancePolicy = DEFAULT_POLICY
) -> Plan:
    tid = tenant.id
    cutoff, prescribed_on = overdue_cutoff(day), prescription_limit(day)
    creditor = CreditorFacts(
        tenant.legal_name, tenant.document, tenant.address, tenant.city, tenant.uf
    )
    ctx = PlanContext(day=day, creditor_identified=creditor_identified(creditor), policy=policy)
    plan = Plan(day)

    steps: dict[uuid.UUID, list[StepDef]] = defaultdict(list)
    for s in session.scalars(
        select(CadenceStep).where(CadenceStep.tenant_id == tid).order_by(CadenceStep.position)
    ):
        steps[s.cadence_version_id].append(
            StepDef(
                s.position,
                s.step_key,
                s.offset_days,
                tuple(Channel(c) for c in s.channels or ()),
                s.action.value if s.action else None,
                s.template,
                s.min_balance,
                tuple(s.segments) if s.segments is not None else None,
                tuple(s.score_bands) if s.score_bands is not None else None,
                s.only_business_days,
            )
        )
    versions = {
        c.name: v.id
        for c in session.scalars(select(Cadence).where(Cadence.tenant_id == tid))
        for v in session.scalars(select(CadenceVersion).where(CadenceVersion.cadence_id == c.id))
        if v.version == c.current_version
    }
    segments = [
        SegmentDef(s.code, s.name, s.priority, s.kind, dict(s.params or {}), s.cadence_name)
        for s in session.scalars(select(Segment).where(Segment.tenant_id == tid))
        if s.enabled
    ]

    customers = list(session.scalars(select(Customer).where(Customer.tenant_id == tid)))
    receivables: dict[uuid.UUID, list[Receivable]] = defaultdict(list)
    for r in session.scalars(select(Receivable).where(Receivable.tenant_id == tid)):
        receivables[r.customer_id].append(r)
    last_paid: dict[uuid.UUID, date] = {}
    for p in session.scalars(select(Payment).where(Payment.tenant_id == tid)):
        last_paid[p.receivable_id] = max(p.paid_on, last_paid.get(p.receivable_id, p.paid_on))
    points: dict[uuid.UUID, list[ContactPoint]] = defaultdict(list)
    for cp in session.scalars(select(ContactPoint).where(ContactPoint.tenant_id == tid)):
        points[cp.customer_id].append(cp)
    opt_outs: dict[uuid.UUID, set[Channel]] = defaultdict(set)
    for o in session.scalars(select(ChannelOptOut).where(ChannelOptOut.tenant_id == tid)):
        opt_outs[o.customer_id].add(Channel(o.channel))
    live: dict[uuid.UUID, CollectionCase] = {
        c.customer_id: c
        for c in session.scalars(select(CollectionCase).where(CollectionCase.tenant_id == tid))
        if c.status in (CaseStatus.OPEN, CaseStatus.PAUSED)
    }
    since = datetime.combine(day - timedelta(days=policy.attempts_window_days + 1), time(0), UTC)
    outbox: dict[uuid.UUID, list[OutboxMessage]] = defaultdict(list)
    for m in session.scalars(select(OutboxMessage).where(OutboxMessage.tenant_id == tid)):
        if m.scheduled_for >= since and m.status not in (
            OutboxStatus.CANCELLED,
            OutboxStatus.FAILED,
        ):
            outbox[m.customer_id].append(m)
    bureau: dict[uuid.UUID, list[CreditBureauRecord]] = defaultdict(list)
    for b in session.scalars(select(CreditBureauRecord).where(CreditBureauRecord.tenant_id == tid)):
        if b.status in (
            BureauStatus.NOTICE_SENT,
            BureauStatus.ACTIVE,
            BureauStatus.REMOVAL_PENDING,
        ):
            bureau[b.customer_id].append(b)

    def is_overdue(r: Receivable) -> bool:
        return r.status == ReceivableStatus.OPEN and r.balance > 0 and r.due_date <= cutoff

    def view(c: Customer) -> CustomerView:
        overdue = sorted(
            (r for r in receivables[c.id] if is_overdue(r) and r.due_date > prescribed_on),
            key=lambda r: (r.due_date, r.external_id),
        )
        return CustomerView(
            id=c.id,
            external_id=c.external_id,
            uf=c.uf,
            facts=CustomerFacts(
                deceased=c.deceased,
                disputed=c.disputed,
                superendividamento=c.superendividamento,
                do_not_contact=c.do_not_contact,
                in_agreement=any(r.status == ReceivableStatus.AGREEMENT for r in receivables[c.id]),
            ),
            points=[
                ContactPointFacts(
                    id=p.id,
                    kind=p.kind.value,
                    value=p.value,
                    owner=p.owner.value,
                    verified=p.verified,
                    preferred=p.preferred,
                    preferred_channel=p.preferred_channel.value if p.preferred_channel else None,
                    invalid=p.invalid_at is not None,
                    best_hour_start=p.best_hour_start,
                    best_hour_end=p.best_hour_end,
                )
                for p in sorted(points[c.id], key=lambda p: str(p.id))
            ],
            opted_out=set(opt_outs[c.id]),
            overdue=[ReceivableView(r.id, r.external_id, r.due_date, r.balance) for r in overdue],
            history=[
                (m.scheduled_for.astimezone(timezone_for_uf(c.uf)).date(), Channel(m.channel))
                for m in sorted(outbox[c.id], key=lambda m: m.scheduled_for)
            ],
            bureau=[
                BureauView(b.id, b.receivable_id, b.status.value, b.eligible_on)
                for b in sorted(bureau[c.id], key=lambda b: str(b.receivable_id))
            ],
        )

    chronic, loyal = segment_window(segments)
    chronic_since, chronic_until = months_back(day, chronic - 1), months_back(day, -1)
    loyal_since = same_day_months_back(day, loyal)

    def features(c: Customer) -> CustomerFeatures:
        rows = receivables[c.id]

        def paid_late(r: Receivable) -> bool:
            paid = last_paid.get(r.id)
            return (
                r.status == ReceivableStatus.PAID
                and paid is not None
                and (paid - r.due_date).days > LATE_GRACE_DAYS
            )

        return CustomerFeatures(
            is_business=c.document_kind == DocumentKind.CNPJ and not c.consumer,
            overdue_balance=sum(
                (r.balance for r in rows if is_overdue(r) and r.due_date > prescribed_on),
                Decimal("0.00"),
            ),
            ever_paid=any(r.id in last_paid for r in rows),
            first_issue=min(r.issue_date for r in rows),
            first_due=min(r.due_date for r in rows),
            late_months=len(
                {
                    (r.due_date.year, r.due_date.month)
                    for r in rows
                    if chronic_since <= r.due_date < chronic_until
                    and (paid_late(r) or is_overdue(r))
                }
            ),
            paid_late_recent=sum(1 for r in rows if r.due_date >= loyal_since and paid_late(r)),
        )

    for customer in sorted(customers, key=lambda c: c.external_id):
        v = view(customer)
        case = live.get(customer.id)
        state: CaseState | None = None
        if case is not None:
            state = CaseState(
                id=case.id,
                customer_id=case.customer_id,
                status=case.status.value,
                segment=case.segment,
                segment_reason=case.segment_reason,
                cadence_version_id=case.cadence_version_id,
                anchor_receivable_id=case.anchor_receivable_id,
                anchor_due=case.anchor_due_date,
                last_position=case.last_position,
                last_step_key=case.last_step_key,
                last_step_on=case.last_step_on,
                next_step_on=case.next_step_on,
                pause_reason=case.pause_reason,
                risk_band=case.risk_band,
                opened_on=case.opened_on,
            )
        elif v.overdue:
            state = open_case(day, v, features(customer), segments, versions, steps)
        if state is not None and state.next_step_on is not None and state.next_step_on <= day:
            advance_case(
                ctx,
                plan,
                state,
                v,
                steps.get(state.cadence_version_id, []),
                overdue_any=any(is_overdue(r) for r in receivables[customer.id]),
            )
        if (state is not None and state.live) or not receivables[customer.id]:
            continue
        segment = reminder_segment(features(customer), segments, day)
        version_id = versions.get(segment.cadence_name) if segment else None
        if version_id is None:
            continue
        for step in pre_due_steps(steps, version_id):
            due_now = sorted(
                (
                    r
                    for r in receivables[customer.id]
                    if r.status == ReceivableStatus.OPEN
                    and r.balance > 0
                    and step_date(r.due_date, step) == day
                ),
                key=lambda r: (r.due_date, r.external_id),
            )
            if due_now:
                plan_reminders(
                    ctx,
                    plan,
                    v,
                    version_id,
                    step,
                    [ReceivableView(r.id, r.external_id, r.due_date, r.balance) for r in due_now],
                )
    return plan
