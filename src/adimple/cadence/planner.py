"""What the daily cycle decides for one customer, given what is known about them.

Both engines — the set-based one (:mod:`adimple.cadence.engine`), which selects the few cases
with something due by indexed SQL, and the per-customer reference
(:mod:`adimple.cadence.reference`) — build the same in-memory views and call these functions,
so the decisions (guards, consolidation, catch-up, bureau steps) are written once. No
database imports here.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from adimple.cadence.models import SuppressionReason
from adimple.cadence.rules import (
    CustomerFeatures,
    SegmentDef,
    StepDecision,
    StepDef,
    classify,
    decide_step,
    first_step_on,
)
from adimple.compliance.rules import (
    DEFAULT_POLICY,
    CompliancePolicy,
    ContactPointFacts,
    CustomerFacts,
    FrequencyLedger,
    case_block_reason,
    choose_contact_point,
    schedule_contact,
)
from adimple.kit.calendar import timezone_for_uf
from adimple.kit.ids import time_ordered_uuid
from adimple.portfolio.models import Channel

# CDC art. 43 §2 and DESIGN §5: the bureau may be told only after the written notice's
# waiting period (default 10 days).
BUREAU_WAIT_DAYS = 10
BUREAU_NOTICE_TEMPLATE = "aviso_negativacao"

# Actions that become a task for a person.
TASK_TITLES = {
    "task_call": "Ligar para o cliente",
    "bureau_activate": "Registrar negativação no bureau",
    "agency_handoff": "Encaminhar à assessoria de cobrança",
    "legal_review": "Avaliar cobrança judicial",
}
TASK_KINDS = {
    "task_call": "call",
    "bureau_activate": "bureau_activate",
    "agency_handoff": "agency_handoff",
    "legal_review": "legal_review",
}


@dataclass(frozen=True)
class ReceivableView:
    id: uuid.UUID
    external_id: str
    due_date: date
    balance: Decimal


@dataclass(frozen=True)
class BureauView:
    id: uuid.UUID
    receivable_id: uuid.UUID
    status: str
    eligible_on: date


@dataclass
class CustomerView:
    """One customer as the planner needs them (loaded in bulk by either engine)."""

    id: uuid.UUID
    external_id: str
    uf: str | None
    facts: CustomerFacts
    points: list[ContactPointFacts]
    opted_out: set[Channel]
    overdue: list[ReceivableView]  # open, not prescribed, overdue; oldest first
    history: list[tuple[date, Channel]]  # earlier attempts (local date, channel)
    bureau: list[BureauView] = field(default_factory=list)

    @property
    def overdue_balance(self) -> Decimal:
        return sum((r.balance for r in self.overdue), Decimal("0.00"))


@dataclass
class CaseView:
    id: uuid.UUID
    customer_id: uuid.UUID
    segment: str
    cadence_version_id: uuid.UUID
    anchor_due: date
    last_position: int
    risk_band: str | None


@dataclass(frozen=True)
class PlannedContact:
    customer_id: uuid.UUID
    customer_external_id: str
    case_id: uuid.UUID | None
    step_key: str
    channel: Channel
    template: str
    contact_point_id: Any
    address: str
    scheduled_for: datetime
    receivables: tuple[ReceivableView, ...]
    cadence_version_id: uuid.UUID | None
    idempotency_key: str


@dataclass(frozen=True)
class PlannedTask:
    customer_id: uuid.UUID
    customer_external_id: str
    case_id: uuid.UUID | None
    step_key: str
    action: str
    kind: str
    title: str
    idempotency_key: str
    data: dict[str, Any]


@dataclass(frozen=True)
class Suppression:
    customer_id: uuid.UUID
    customer_external_id: str
    case_id: uuid.UUID | None
    step_key: str
    channel: Channel | None
    reason: SuppressionReason
    idempotency_key: str


@dataclass(frozen=True)
class CaseAdvance:
    """A case carried out (or passed) steps today."""

    case_id: uuid.UUID
    decision: StepDecision


@dataclass(frozen=True)
class BureauNotice:
    customer_id: uuid.UUID
    case_id: uuid.UUID
    receivable_id: uuid.UUID
    amount: Decimal
    eligible_on: date


@dataclass
class Plan:
    """Everything one day's cycle decided; the engine writes it, ``plan`` prints it."""

    day: date
    contacts: list[PlannedContact] = field(default_factory=list)
    tasks: list[PlannedTask] = field(default_factory=list)
    suppressed: list[Suppression] = field(default_factory=list)
    advances: list[CaseAdvance] = field(default_factory=list)
    bureau_notices: list[BureauNotice] = field(default_factory=list)
    bureau_activations: list[uuid.UUID] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        """The ``adimple plan`` contract (issue 4), in a stable order."""
        return {
            "date": self.day.isoformat(),
            "contacts": sorted(
                (
                    {
                        "customer_external_id": c.customer_external_id,
                        "step": c.step_key,
                        "channel": c.channel.value,
                        "contact_point": c.address,
                        "scheduled_for": c.scheduled_for.isoformat(),
                        "receivable_external_ids": sorted(r.external_id for r in c.receivables),
                    }
                    for c in self.contacts
                ),
                key=lambda c: (c["customer_external_id"], c["step"], c["channel"]),
            ),
            "tasks": sorted(
                (
                    {
                        "customer_external_id": t.customer_external_id,
                        "step": t.step_key,
                        "action": t.action,
                    }
                    for t in self.tasks
                ),
                key=lambda t: (t["customer_external_id"], t["step"]),
            ),
            "suppressed": sorted(
                (
                    {
                        "customer_external_id": s.customer_external_id,
                        "step": s.step_key,
                        "channel": s.channel.value if s.channel else None,
                        "reason": s.reason.value,
                    }
                    for s in self.suppressed
                ),
                key=lambda s: (s["customer_external_id"], s["step"], s["channel"] or ""),
            ),
        }


@dataclass
class PlanContext:
    day: date
    creditor_identified: bool
    policy: CompliancePolicy = DEFAULT_POLICY
    ledgers: dict[uuid.UUID, FrequencyLedger] = field(default_factory=dict)
    schedules: dict[tuple[str | None, time | None, bool], tuple[datetime, date] | None] = field(
        default_factory=dict
    )

    def ledger(self, customer: CustomerView) -> FrequencyLedger:
        if customer.id not in self.ledgers:
            self.ledgers[customer.id] = FrequencyLedger(history=list(customer.history))
        return self.ledgers[customer.id]

    def schedule(
        self, uf: str | None, point: ContactPointFacts, channel: Channel
    ) -> tuple[datetime, date] | None:
        """When a message goes out, and that moment's local date; ``None`` when no window
        opens soon enough. A function of the day, the UF and the point's best hour alone
        (a letter's, of the UF alone), so worked out once per combination: a day plans tens
        of thousands of messages over a few dozen of them."""
        letter = channel == Channel.LETTER
        key = (uf, None if letter else point.best_hour_start, letter)
        if key not in self.schedules:
            tz = timezone_for_uf(uf)
            moment: datetime | None
            if letter:
                # Posted letters have no contact window; they go to the print batch that day.
                moment = datetime.combine(self.day, time(0), tz) + timedelta(hours=8)
            else:
                moment = schedule_contact(self.day, uf, point, self.policy)
            self.schedules[key] = None if moment is None else (moment, moment.astimezone(tz).date())
        return self.schedules[key]


def _suppress(
    plan: Plan,
    customer: CustomerView,
    case_id: uuid.UUID | None,
    step: StepDef,
    channel: Channel | None,
    reason: SuppressionReason,
    scope: str,
) -> None:
    key = f"{scope}:{step.key}:{channel.value if channel else '-'}:{reason.value}"
    plan.suppressed.append(
        Suppression(customer.id, customer.external_id, case_id, step.key, channel, reason, key)
    )


def _contact_block(ctx: PlanContext, customer: CustomerView) -> SuppressionReason | None:
    """Reasons no one may contact this debtor at all, whatever the channel."""
    if not ctx.creditor_identified:  # CDC art. 42-A: the creditor must be identified
        return SuppressionReason.MISSING_CREDITOR_ID
    if customer.facts.do_not_contact:
        return SuppressionReason.DO_NOT_CONTACT
    return None


def _plan_message(
    ctx: PlanContext,
    plan: Plan,
    customer: CustomerView,
    *,
    case_id: uuid.UUID | None,
    cadence_version_id: uuid.UUID | None,
    step: StepDef,
    channel: Channel,
    template: str,
    receivables: Sequence[ReceivableView],
    scope: str,
) -> bool:
    """Guards one message; plans it or records why not. True when planned."""
    if not ctx.creditor_identified:  # CDC art. 42-A
        _suppress(
            plan, customer, case_id, step, channel, SuppressionReason.MISSING_CREDITOR_ID, scope
        )
        return False
    if customer.facts.do_not_contact:
        _suppress(plan, customer, case_id, step, channel, SuppressionReason.DO_NOT_CONTACT, scope)
        return False
    chosen = choose_contact_point(
        channel, customer.points, opted_out=customer.opted_out, template=template
    )
    if isinstance(chosen, SuppressionReason):
        _suppress(plan, customer, case_id, step, channel, chosen, scope)
        return False
    when = ctx.schedule(customer.uf, chosen, channel)
    if when is None:
        _suppress(plan, customer, case_id, step, channel, SuppressionReason.WINDOW, scope)
        return False
    moment, local_day = when
    ledger = ctx.ledger(customer)
    if not ledger.allows(local_day, channel, ctx.policy):
        _suppress(plan, customer, case_id, step, channel, SuppressionReason.FREQUENCY_CAP, scope)
        return False
    ledger.add(local_day, channel)
    plan.contacts.append(
        PlannedContact(
            customer_id=customer.id,
            customer_external_id=customer.external_id,
            case_id=case_id,
            step_key=step.key,
            channel=channel,
            template=template,
            contact_point_id=chosen.id,
            address=chosen.value,
            scheduled_for=moment,
            receivables=tuple(receivables),
            cadence_version_id=cadence_version_id,
            idempotency_key=f"{scope}:{step.key}:{channel.value}",
        )
    )
    return True


def plan_case_step(
    ctx: PlanContext,
    plan: Plan,
    case: CaseView,
    customer: CustomerView,
    steps: Sequence[StepDef],
) -> StepDecision:
    """The step an open case takes today, with its contacts, tasks and suppressions."""
    decision = decide_step(
        steps,
        last_position=case.last_position,
        anchor_due=case.anchor_due,
        day=ctx.day,
        segment=case.segment,
        overdue_balance=customer.overdue_balance,
        risk_band=case.risk_band,
    )
    plan.advances.append(CaseAdvance(case.id, decision))
    step = decision.executed
    if step is None:
        return decision
    scope = f"case:{case.id}"
    receivables = customer.overdue
    for channel in step.channels:
        assert step.template is not None
        _plan_message(
            ctx,
            plan,
            customer,
            case_id=case.id,
            cadence_version_id=case.cadence_version_id,
            step=step,
            channel=channel,
            template=step.template,
            receivables=receivables,
            scope=scope,
        )
    if step.action == "bureau_notice":
        _plan_bureau_notice(ctx, plan, case, customer, step, scope)
    elif step.action == "bureau_activate":
        _plan_bureau_activation(ctx, plan, case, customer, step, scope)
    elif step.action is not None:
        _plan_task(ctx, plan, case, customer, step, scope)
    return decision


def _plan_task(
    ctx: PlanContext,
    plan: Plan,
    case: CaseView,
    customer: CustomerView,
    step: StepDef,
    scope: str,
    data: dict[str, Any] | None = None,
) -> None:
    assert step.action is not None
    if step.action == "task_call":
        # A call is a contact: the same guards as a message, on the debtor's own phone.
        if not ctx.creditor_identified:
            _suppress(
                plan,
                customer,
                case.id,
                step,
                Channel.PHONE,
                SuppressionReason.MISSING_CREDITOR_ID,
                scope,
            )
            return
        if customer.facts.do_not_contact:
            _suppress(
                plan,
                customer,
                case.id,
                step,
                Channel.PHONE,
                SuppressionReason.DO_NOT_CONTACT,
                scope,
            )
            return
        chosen = choose_contact_point(Channel.PHONE, customer.points, opted_out=customer.opted_out)
        if isinstance(chosen, SuppressionReason):
            _suppress(plan, customer, case.id, step, Channel.PHONE, chosen, scope)
            return
        data = {**(data or {}), "phone": chosen.value, "segment": case.segment}
    plan.tasks.append(
        PlannedTask(
            customer_id=customer.id,
            customer_external_id=customer.external_id,
            case_id=case.id,
            step_key=step.key,
            action=step.action,
            kind=TASK_KINDS.get(step.action, "manual"),
            title=TASK_TITLES.get(step.action, step.action),
            idempotency_key=f"{scope}:{step.key}:task",
            data={
                **(data or {}),
                "receivable_ids": [str(r.id) for r in customer.overdue],
                "overdue_balance": str(customer.overdue_balance),
            },
        )
    )


def _plan_bureau_notice(
    ctx: PlanContext, plan: Plan, case: CaseView, customer: CustomerView, step: StepDef, scope: str
) -> None:
    """The written notice comes first (CDC art. 43 §2): no letter, no record."""
    live = {b.receivable_id for b in customer.bureau}
    targets = [r for r in customer.overdue if r.id not in live]
    if not targets:
        return
    template = step.template or BUREAU_NOTICE_TEMPLATE
    sent = _plan_message(
        ctx,
        plan,
        customer,
        case_id=case.id,
        cadence_version_id=case.cadence_version_id,
        step=step,
        channel=Channel.LETTER,
        template=template,
        receivables=targets,
        scope=scope,
    )
    if not sent:
        return
    for receivable in targets:
        plan.bureau_notices.append(
            BureauNotice(
                customer.id,
                case.id,
                receivable.id,
                receivable.balance,
                ctx.day + timedelta(days=BUREAU_WAIT_DAYS),
            )
        )


def _plan_bureau_activation(
    ctx: PlanContext, plan: Plan, case: CaseView, customer: CustomerView, step: StepDef, scope: str
) -> None:
    """Only notices whose waiting period is over, for títulos still overdue and not prescribed
    (never past 5 years: CDC art. 43 §1)."""
    overdue = {r.id for r in customer.overdue}
    eligible = [
        b
        for b in customer.bureau
        if b.status == "notice_sent" and b.eligible_on <= ctx.day and b.receivable_id in overdue
    ]
    if not eligible:
        return
    plan.bureau_activations.extend(b.id for b in eligible)
    _plan_task(
        ctx,
        plan,
        case,
        customer,
        step,
        scope,
        data={"credit_bureau_record_ids": sorted(str(b.id) for b in eligible)},
    )


def plan_blocked_case(
    plan: Plan,
    case: CaseView,
    customer: CustomerView,
    step: StepDef,
    reason: SuppressionReason,
) -> None:
    """A step fell due on a paused, cured or prescribed case: recorded, not carried out."""
    scope = f"case:{case.id}"
    for channel in step.channels or (None,):
        _suppress(plan, customer, case.id, step, channel, reason, scope)


def plan_reminders(
    ctx: PlanContext,
    plan: Plan,
    customer: CustomerView,
    cadence_version_id: uuid.UUID,
    step: StepDef,
    receivables: Sequence[ReceivableView],
) -> None:
    """A pre-due reminder: one message per channel listing every título it concerns."""
    scope = f"pre:{customer.id}:{ctx.day.isoformat()}"
    blocked = case_block_reason(customer.facts)
    if blocked is not None:
        for channel in step.channels:
            _suppress(plan, customer, None, step, channel, blocked, scope)
        return
    for channel in step.channels:
        assert step.template is not None
        _plan_message(
            ctx,
            plan,
            customer,
            case_id=None,
            cadence_version_id=cadence_version_id,
            step=step,
            channel=channel,
            template=step.template,
            receivables=receivables,
            scope=scope,
        )


# --- case state ----------------------------------------------------------------------------

# A case with no further step is looked at again after this many days, so a cure or a
# prescription missed by an event is still caught by the daily selection.
REVIEW_DAYS = 30
# Pausing reasons: while one holds, steps pass without contact (do-not-contact is not one:
# it blocks contacts, not bureau or legal steps).
PAUSING = frozenset(
    {
        SuppressionReason.AGREEMENT,
        SuppressionReason.DECEASED,
        SuppressionReason.SUPERENDIVIDAMENTO,
        SuppressionReason.DISPUTED,
    }
)
_ANY_BALANCE = Decimal("Infinity")


@dataclass
class CaseState:
    """A collection case as the cycle reads and rewrites it (one row of collection_case)."""

    id: uuid.UUID
    customer_id: uuid.UUID
    status: str
    segment: str
    segment_reason: str
    cadence_version_id: uuid.UUID
    anchor_receivable_id: uuid.UUID | None
    anchor_due: date
    last_position: int
    last_step_key: str | None
    last_step_on: date | None
    next_step_on: date | None
    pause_reason: str | None
    risk_band: str | None
    opened_on: date
    is_new: bool = False
    closed_on: date | None = None
    close_reason: str | None = None
    events: list[tuple[str, str | None, dict[str, Any]]] = field(default_factory=list)

    def view(self) -> CaseView:
        return CaseView(
            self.id,
            self.customer_id,
            self.segment,
            self.cadence_version_id,
            self.anchor_due,
            self.last_position,
            self.risk_band,
        )

    @property
    def live(self) -> bool:
        return self.status in ("open", "paused")


def advance_case(
    ctx: PlanContext,
    plan: Plan,
    state: CaseState,
    customer: CustomerView,
    steps: Sequence[StepDef],
    *,
    overdue_any: bool,
) -> None:
    """Today's transition of one case with a step due: cure, prescription, pause, resume,
    re-anchoring, then the step itself (with catch-up)."""
    day = ctx.day

    def passing() -> StepDecision:
        """The step falling due whatever the balance: what a blocked case passes over."""
        return decide_step(
            steps,
            last_position=state.last_position,
            anchor_due=state.anchor_due,
            day=day,
            segment=state.segment,
            overdue_balance=_ANY_BALANCE,
            risk_band=state.risk_band,
        )

    def pause(block: SuppressionReason) -> None:
        if state.status != "paused" or state.pause_reason != block.value:
            state.status = "paused"
            state.pause_reason = block.value
            state.events.append(("paused", None, {"reason": block.value}))
        decision = passing()
        if decision.executed is not None:
            plan_blocked_case(plan, state.view(), customer, decision.executed, block)
        state.next_step_on = decision.next_step_on or day + timedelta(days=REVIEW_DAYS)

    if not customer.overdue and customer.facts.in_agreement:
        # The títulos are suspended by an agreement, not paid: the episode waits — cured when
        # the agreement completes (its títulos are then paid), resumed if it breaks.
        pause(SuppressionReason.AGREEMENT)
        return
    if not customer.overdue:
        # Nothing overdue: paid (cured) — or only prescribed títulos remain, and active
        # collection stops (Código Civil art. 206 §5º I).
        reason = SuppressionReason.PRESCRIBED if overdue_any else SuppressionReason.PAID
        step = passing().executed
        if step is None and overdue_any:
            # Prescription ends the episode for good: record it against the next step even
            # when none fell due today, so the stop is visible in the plan.
            pending = [s for s in steps if not s.pre_due and s.position > state.last_position]
            step = pending[0] if pending else None
        if step is not None:
            plan_blocked_case(plan, state.view(), customer, step, reason)
        state.status = "closed" if overdue_any else "cured"
        state.close_reason = reason.value
        state.closed_on = day
        state.next_step_on = None
        state.events.append((state.status, None, {"reason": reason.value}))
        return

    anchor = customer.overdue[0]
    if anchor.id != state.anchor_receivable_id:
        state.events.append(
            (
                "reanchored",
                None,
                {"from": state.anchor_due.isoformat(), "to": anchor.due_date.isoformat()},
            )
        )
        state.anchor_receivable_id = anchor.id
        state.anchor_due = anchor.due_date

    block = case_block_reason(customer.facts)
    if block in PAUSING:
        assert block is not None
        pause(block)
        return
    if state.status == "paused":
        state.events.append(("resumed", None, {"reason": state.pause_reason}))
        state.status = "open"
        state.pause_reason = None

    decision = plan_case_step(ctx, plan, state.view(), customer, steps)
    if decision.executed is not None:
        state.last_position = decision.executed.position
        state.last_step_key = decision.executed.key
        state.last_step_on = day
        state.events.append(("step", decision.executed.key, {}))
        for skipped in decision.skipped:
            state.events.append(("skipped", skipped.key, {"for": decision.executed.key}))
    state.next_step_on = decision.next_step_on or day + timedelta(days=REVIEW_DAYS)


class CycleError(Exception):
    """The cycle cannot run for this tenant as configured (a clear, actionable message)."""


def open_case(
    day: date,
    customer: CustomerView,
    features: CustomerFeatures,
    segments: Sequence[SegmentDef],
    versions: dict[str, uuid.UUID],
    steps_by_version: dict[uuid.UUID, list[StepDef]],
) -> CaseState:
    """A new episode for a customer with something overdue and no live case.

    The segment is decided now and kept for the whole episode, with its reason.
    """
    segment, reason = classify(features, [s for s in segments if s.kind != "preventive"], day)
    version_id = versions.get(segment.cadence_name)
    if version_id is None:
        raise CycleError(
            f"segment {segment.code!r} uses cadence {segment.cadence_name!r}, which does not "
            "exist for this tenant (adimple cadence import FILE)"
        )
    anchor = customer.overdue[0]
    first = first_step_on(steps_by_version.get(version_id, []), anchor.due_date)
    return CaseState(
        id=time_ordered_uuid(),
        customer_id=customer.id,
        status="open",
        segment=segment.code,
        segment_reason=reason,
        cadence_version_id=version_id,
        anchor_receivable_id=anchor.id,
        anchor_due=anchor.due_date,
        last_position=0,
        last_step_key=None,
        last_step_on=None,
        next_step_on=first or day + timedelta(days=REVIEW_DAYS),
        pause_reason=None,
        risk_band=None,
        opened_on=day,
        is_new=True,
        events=[("opened", None, {"segment": segment.code, "reason": reason})],
    )


def pre_due_steps(
    steps_by_version: dict[uuid.UUID, list[StepDef]], version_id: uuid.UUID
) -> list[StepDef]:
    """The reminder steps of a cadence: on or before the due date, with channels."""
    return [s for s in steps_by_version.get(version_id, []) if s.pre_due and s.channels]
