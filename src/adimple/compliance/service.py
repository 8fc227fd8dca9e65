"""The guards at send time: the dispatcher asks here before every message leaves.

Planning already applied them, but hours or days may pass between planning and sending:
the debtor may have paid, opted out, disputed the debt, or the window may have closed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

from sqlalchemy import func, select
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


def customer_facts(session: Session, customer: Customer) -> CustomerFacts:
    in_agreement = session.scalar(
        select(func.count())
        .select_from(Receivable)
        .where(
            Receivable.tenant_id == customer.tenant_id,
            Receivable.customer_id == customer.id,
            Receivable.status == ReceivableStatus.AGREEMENT,
        )
    )
    return CustomerFacts(
        deceased=customer.deceased,
        disputed=customer.disputed,
        superendividamento=customer.superendividamento,
        do_not_contact=customer.do_not_contact,
        in_agreement=bool(in_agreement),
    )


def check_before_send(
    session: Session,
    message: OutboxMessage,
    *,
    now: datetime,
    policy: CompliancePolicy = DEFAULT_POLICY,
) -> SendDecision:
    """Decides whether ``message`` may leave now (see :class:`SendDecision`)."""
    tenant = session.get_one(Tenant, message.tenant_id)
    if not creditor_identified(creditor_facts(tenant)):
        return _cancel(SuppressionReason.MISSING_CREDITOR_ID)
    customer = session.get_one(Customer, message.customer_id)
    local_today = now.astimezone(timezone_for_uf(customer.uf)).date()

    if message.case_id is not None:
        case = session.get(CollectionCase, message.case_id)
        if case is not None and case.status == CaseStatus.PAUSED:
            return _cancel(_PAUSE_REASONS.get(case.pause_reason or "", SuppressionReason.DISPUTED))
        if case is not None and case.status == CaseStatus.CURED:
            return _cancel(SuppressionReason.PAID)
        if case is not None and case.status == CaseStatus.CLOSED:
            reason = _PAUSE_REASONS.get(case.close_reason or "", SuppressionReason.PAID)
            return _cancel(reason)

    blocked = case_block_reason(customer_facts(session, customer))
    if blocked is not None:
        return _cancel(blocked)

    statuses = list(
        session.execute(
            select(Receivable.status, Receivable.balance, Receivable.due_date)
            .join(OutboxReceivable, OutboxReceivable.receivable_id == Receivable.id)
            .where(OutboxReceivable.outbox_id == message.id)
        )
    )
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
    if not legally_required:
        opted_out = session.scalar(
            select(func.count())
            .select_from(ChannelOptOut)
            .where(
                ChannelOptOut.tenant_id == message.tenant_id,
                ChannelOptOut.customer_id == message.customer_id,
                ChannelOptOut.channel == message.channel,
            )
        )
        if opted_out:
            return _cancel(SuppressionReason.OPT_OUT)

    point = (
        session.get(ContactPoint, message.contact_point_id)
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
    if not _under_caps(session, message, now=now, tz=tz, policy=policy):
        tomorrow = datetime.combine(local_today + timedelta(days=1), datetime.min.time(), tz)
        return SendDecision(send=False, not_before=next_contact_opening(tomorrow, customer.uf))
    return SEND


def _under_caps(
    session: Session,
    message: OutboxMessage,
    *,
    now: datetime,
    tz: tzinfo,
    policy: CompliancePolicy,
) -> bool:
    """The planner's caps (:class:`FrequencyLedger`), counted over what actually left — not
    what is merely queued — in the debtor's local days."""
    since = now - timedelta(days=policy.attempts_window_days)
    rows = session.execute(
        select(OutboxMessage.channel, OutboxMessage.sent_at).where(
            OutboxMessage.tenant_id == message.tenant_id,
            OutboxMessage.customer_id == message.customer_id,
            OutboxMessage.id != message.id,
            OutboxMessage.status.in_(ATTEMPTED),
            OutboxMessage.sent_at >= since,
        )
    ).all()
    ledger = FrequencyLedger(
        history=[
            (sent_at.astimezone(tz).date(), Channel(channel))
            for channel, sent_at in rows
            if sent_at is not None
        ]
    )
    return ledger.allows(now.astimezone(tz).date(), message.channel, policy)


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
