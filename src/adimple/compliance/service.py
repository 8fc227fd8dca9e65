"""The guards at send time: the dispatcher asks here before every message leaves.

Planning already applied them, but hours or days may pass between planning and sending:
the debtor may have paid, opted out, disputed the debt, or the window may have closed.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from functools import lru_cache
from typing import Any

from sqlalchemy import Select, bindparam, func, select
from sqlalchemy.orm import Session

from adimple.cadence.models import (
    CaseStatus,
    CollectionCase,
    ContactSuppression,
    SuppressionReason,
)
from adimple.compliance.rules import (
    DEFAULT_POLICY,
    LEGALLY_REQUIRED_TEMPLATES,
    CompliancePolicy,
    CreditorFacts,
    CustomerFacts,
    FrequencyLedger,
    case_block_reason,
    creditor_identified,
    prescription_limit,
)
from adimple.db.dialect import one_of
from adimple.kit.calendar import (
    is_within_contact_window,
    next_contact_opening,
    overdue_cutoff,
    timezone_for_uf,
)
from adimple.messaging.models import OutboxMessage, OutboxReceivable, OutboxStatus
from adimple.portfolio.models import (
    Channel,
    ChannelOptOut,
    ContactOwner,
    ContactPoint,
    Customer,
    Receivable,
    ReceivableStatus,
)
from adimple.tenancy.models import Tenant

ATTEMPTED = (
    OutboxStatus.SENDING,
    OutboxStatus.SENT,
    OutboxStatus.DELIVERED,
    OutboxStatus.READ,
    OutboxStatus.BOUNCED,
)

_PAUSE_REASONS = {reason.value: reason for reason in SuppressionReason}


@dataclass(frozen=True)
class SendDecision:
    """``send``; or a ``reason`` to cancel; or ``not_before`` to try again later."""

    send: bool
    reason: SuppressionReason | None = None
    not_before: datetime | None = None


SEND = SendDecision(send=True)


def _cancel(reason: SuppressionReason) -> SendDecision:
    return SendDecision(send=False, reason=reason)


def creditor_facts(tenant: Tenant) -> CreditorFacts:
    return CreditorFacts(tenant.legal_name, tenant.document, tenant.address, tenant.city, tenant.uf)


def customer_facts(customer: Customer, *, in_agreement: bool) -> CustomerFacts:
    return CustomerFacts(
        deceased=customer.deceased,
        disputed=customer.disputed,
        superendividamento=customer.superendividamento,
        do_not_contact=customer.do_not_contact,
        in_agreement=in_agreement,
    )


@dataclass
class SendFacts:
    """What the guards read about a set of outbox rows, loaded set-wise: a handful of queries
    per claimed batch instead of nine per message (docs/benchmarks.md "Dispatch").

    The tenants, customers, cases and contact points are held here by id (a dict lookup per
    message instead of ``session.get``'s identity-map walk; holding them also keeps them in the
    session's weak identity map for the renderer).
    """

    tenants: dict[uuid.UUID, Tenant] = field(default_factory=dict)
    customers: dict[uuid.UUID, Customer] = field(default_factory=dict)
    cases: dict[uuid.UUID, CollectionCase] = field(default_factory=dict)
    points: dict[uuid.UUID, ContactPoint] = field(default_factory=dict)
    in_agreement: set[uuid.UUID] = field(default_factory=set)  # customers
    # outbox id → (status, balance, due_date) of the receivables it is about
    linked: dict[uuid.UUID, list[Any]] = field(default_factory=dict)
    opted_out: set[tuple[uuid.UUID, str]] = field(default_factory=set)  # (customer, channel)
    # customer → (outbox id, channel, sent_at) of what left inside the caps' window
    sent: dict[uuid.UUID, list[tuple[uuid.UUID, str, datetime | None]]] = field(
        default_factory=dict
    )


def load_send_facts(
    session: Session,
    messages: Sequence[OutboxMessage],
    *,
    now: datetime,
    policy: CompliancePolicy = DEFAULT_POLICY,
) -> SendFacts:
    """Loads what :func:`check_before_send` needs for ``messages`` in eight queries."""
    facts = SendFacts()
    if not messages:
        return facts
    tenant_ids = {m.tenant_id for m in messages}
    customer_ids = {m.customer_id for m in messages}
    case_ids = {m.case_id for m in messages if m.case_id is not None}
    point_ids = {m.contact_point_id for m in messages if m.contact_point_id is not None}
    facts.tenants = {
        t.id: t
        for t in session.scalars(select(Tenant).where(one_of(session, Tenant.id, tenant_ids)))
    }
    facts.customers = {
        c.id: c
        for c in session.scalars(
            select(Customer).where(
                one_of(session, Customer.tenant_id, tenant_ids),
                one_of(session, Customer.id, customer_ids),
            )
        )
    }
    if case_ids:
        facts.cases = {
            c.id: c
            for c in session.scalars(
                select(CollectionCase).where(one_of(session, CollectionCase.id, case_ids))
            )
        }
    if point_ids:
        facts.points = {
            p.id: p
            for p in session.scalars(
                select(ContactPoint).where(one_of(session, ContactPoint.id, point_ids))
            )
        }
    facts.in_agreement = set(
        session.scalars(
            select(Receivable.customer_id).where(
                one_of(session, Receivable.tenant_id, tenant_ids),
                one_of(session, Receivable.customer_id, customer_ids),
                Receivable.status == ReceivableStatus.AGREEMENT,
            )
        )
    )
    for row in session.execute(
        select(
            OutboxReceivable.outbox_id, Receivable.status, Receivable.balance, Receivable.due_date
        )
        .join(OutboxReceivable, OutboxReceivable.receivable_id == Receivable.id)
        .where(one_of(session, OutboxReceivable.outbox_id, [m.id for m in messages]))
    ):
        facts.linked.setdefault(row.outbox_id, []).append(row)
    facts.opted_out = {
        (customer_id, str(channel))
        for customer_id, channel in session.execute(
            select(ChannelOptOut.customer_id, ChannelOptOut.channel).where(
                one_of(session, ChannelOptOut.tenant_id, tenant_ids),
                one_of(session, ChannelOptOut.customer_id, customer_ids),
            )
        )
    }
    since = now - timedelta(days=policy.attempts_window_days)
    for outbox_id, customer_id, channel, sent_at in session.execute(
        select(
            OutboxMessage.id,
            OutboxMessage.customer_id,
            OutboxMessage.channel,
            OutboxMessage.sent_at,
        ).where(
            one_of(session, OutboxMessage.tenant_id, tenant_ids),
            one_of(session, OutboxMessage.customer_id, customer_ids),
            OutboxMessage.status.in_(ATTEMPTED),
            OutboxMessage.sent_at >= since,
        )
    ):
        facts.sent.setdefault(customer_id, []).append((outbox_id, str(channel), sent_at))
    return facts


def check_before_send(
    session: Session,
    message: OutboxMessage,
    *,
    now: datetime,
    policy: CompliancePolicy = DEFAULT_POLICY,
    facts: SendFacts | None = None,
) -> SendDecision:
    """Decides whether ``message`` may leave now (see :class:`SendDecision`).

    ``facts`` are what :func:`load_send_facts` read for a batch holding ``message`` (the
    dispatcher's path); without them they are read for this message alone. Either way the
    decision is taken here, by the same code.
    """
    if facts is None:
        facts = load_send_facts(session, [message], now=now, policy=policy)
    tenant = facts.tenants.get(message.tenant_id) or session.get_one(Tenant, message.tenant_id)
    if not creditor_identified(creditor_facts(tenant)):
        return _cancel(SuppressionReason.MISSING_CREDITOR_ID)
    customer = facts.customers.get(message.customer_id) or session.get_one(
        Customer, message.customer_id
    )
    local_today = now.astimezone(timezone_for_uf(customer.uf)).date()

    if message.case_id is not None:
        case = facts.cases.get(message.case_id) or session.get(CollectionCase, message.case_id)
        if case is not None and case.status == CaseStatus.PAUSED:
            return _cancel(_PAUSE_REASONS.get(case.pause_reason or "", SuppressionReason.DISPUTED))
        if case is not None and case.status == CaseStatus.CURED:
            return _cancel(SuppressionReason.PAID)
        if case is not None and case.status == CaseStatus.CLOSED:
            reason = _PAUSE_REASONS.get(case.close_reason or "", SuppressionReason.PAID)
            return _cancel(reason)

    in_agreement = customer.id in facts.in_agreement
    blocked = case_block_reason(customer_facts(customer, in_agreement=in_agreement))
    if blocked is not None:
        return _cancel(blocked)

    statuses = facts.linked.get(message.id, [])
    if statuses:
        live = [s for s in statuses if s.status == ReceivableStatus.OPEN and s.balance > 0]
        if not live:
            in_agreement = any(s.status == ReceivableStatus.AGREEMENT for s in statuses)
            return _cancel(SuppressionReason.AGREEMENT if in_agreement else SuppressionReason.PAID)
        limit = prescription_limit(local_today)
        if all(s.due_date <= limit for s in live):
            return _cancel(SuppressionReason.PRESCRIBED)
        if message.case_id is not None and not any(
            s.due_date <= overdue_cutoff(local_today) for s in live
        ):
            return _cancel(SuppressionReason.PAID)

    legally_required = message.template in LEGALLY_REQUIRED_TEMPLATES
    if not legally_required and (message.customer_id, str(message.channel)) in facts.opted_out:
        return _cancel(SuppressionReason.OPT_OUT)

    point = (
        facts.points.get(message.contact_point_id)
        or session.get(ContactPoint, message.contact_point_id)
        if message.contact_point_id is not None
        else None
    )
    if point is None or point.invalid_at is not None:
        return _cancel(SuppressionReason.NO_CONTACT_POINT)
    if point.owner != ContactOwner.DEBTOR:
        return _cancel(SuppressionReason.THIRD_PARTY)

    if message.channel == Channel.LETTER:
        return SEND  # printed and posted: no contact window applies
    if not is_within_contact_window(now, customer.uf, policy.window):
        return SendDecision(send=False, not_before=next_contact_opening(now, customer.uf))
    tz = timezone_for_uf(customer.uf)
    if not _under_caps(facts, message, now=now, tz=tz, policy=policy):
        tomorrow = datetime.combine(local_today + timedelta(days=1), datetime.min.time(), tz)
        return SendDecision(send=False, not_before=next_contact_opening(tomorrow, customer.uf))
    return SEND


def _under_caps(
    facts: SendFacts,
    message: OutboxMessage,
    *,
    now: datetime,
    tz: tzinfo,
    policy: CompliancePolicy,
) -> bool:
    """The planner's caps (:class:`FrequencyLedger`), counted over what actually left — not
    what is merely queued — in the debtor's local days."""
    ledger = FrequencyLedger(
        history=[
            (sent_at.astimezone(tz).date(), Channel(channel))
            for outbox_id, channel, sent_at in facts.sent.get(message.customer_id, [])
            if outbox_id != message.id and sent_at is not None  # window: load_send_facts
        ]
    )
    return ledger.allows(now.astimezone(tz).date(), message.channel, policy)


def guard_state(
    session: Session, message_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, tuple[Any, ...]]:
    """A fingerprint, per outbox row, of what the guards read that a debtor or an operator can
    change between the check and the send — in one query: the customer's open receivables
    (count and balance: a payment, an agreement or a write-off changes them), the case status,
    the customer's flags, an opt-out of the channel, the contact point's validity and owner, and
    the row's own status and claim.

    The dispatcher takes it when it checks a batch and again just before sending (for a few
    rows at a time): a row whose fingerprint changed is checked and rendered again from
    scratch. Not covered: an edit of the creditor's own identification (checked per batch).
    """
    if not message_ids:
        return {}
    rows = session.execute(_guard_state_query(), {"ids": list(message_ids)})
    return {row[0]: tuple(row[1:]) for row in rows}


@lru_cache(maxsize=1)
def _guard_state_query() -> Any:
    # Built once: the dispatcher runs it before every send, and building it cost more CPU
    # than running it.
    return guard_state_select().where(OutboxMessage.id.in_(bindparam("ids", expanding=True)))


def guard_state_select() -> Select[Any]:
    """The fingerprint query of :func:`guard_state` without its ``WHERE``: the outbox id, then
    the fingerprint's columns (the dispatcher's PostgreSQL path runs it by other keys)."""
    outbox = OutboxMessage
    open_receivables = (
        Receivable.tenant_id == outbox.tenant_id,
        Receivable.customer_id == outbox.customer_id,
        Receivable.status == ReceivableStatus.OPEN,
    )
    return (
        select(
            outbox.id,
            outbox.status,
            outbox.claimed_by,
            select(func.count()).where(*open_receivables).scalar_subquery(),
            select(func.sum(Receivable.balance)).where(*open_receivables).scalar_subquery(),
            select(CollectionCase.status)
            .where(CollectionCase.id == outbox.case_id)
            .scalar_subquery(),
            Customer.deceased,
            Customer.disputed,
            Customer.superendividamento,
            Customer.do_not_contact,
            select(func.count())
            .where(
                ChannelOptOut.tenant_id == outbox.tenant_id,
                ChannelOptOut.customer_id == outbox.customer_id,
                ChannelOptOut.channel == outbox.channel,
            )
            .scalar_subquery(),
            ContactPoint.invalid_at,
            ContactPoint.owner,
        )
        .join(Customer, Customer.id == outbox.customer_id)
        .outerjoin(ContactPoint, ContactPoint.id == outbox.contact_point_id)
    )


def record_suppression(
    session: Session, message: OutboxMessage, reason: SuppressionReason, *, now: datetime
) -> None:
    """Keeps the reason a queued message was not sent (idempotent per message and reason)."""
    key = f"send:{message.id}:{reason.value}"
    exists = session.scalar(
        select(ContactSuppression.id).where(
            ContactSuppression.tenant_id == message.tenant_id,
            ContactSuppression.idempotency_key == key,
        )
    )
    if exists is not None:
        return
    session.add(
        ContactSuppression(
            tenant_id=message.tenant_id,
            customer_id=message.customer_id,
            case_id=message.case_id,
            plan_date=now.date(),
            step_key=message.step_key,
            channel=message.channel,
            reason=reason,
            detail="at send time",
            idempotency_key=key,
            created_at=now,
        )
    )
    session.flush()
