"""The guards again at send time, against real rows on both databases."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy.orm import Session

from adimple.cadence.models import ContactSuppression, SuppressionReason
from adimple.compliance.service import check_before_send, record_suppression
from adimple.messaging.models import OutboxMessage, OutboxReceivable
from adimple.portfolio.models import Channel, ChannelOptOut, ContactOwner
from adimple.tenancy.models import Tenant
from builders import add_contact, make_customer, make_receivable, pay

# Monday 23/11/2026 14:00 in São Paulo (17:00 UTC): inside the window.
OPEN_HOURS = datetime(2026, 11, 23, 17, 0, tzinfo=UTC)


def queued(session: Session, tenant: Tenant, *, owner: ContactOwner = ContactOwner.DEBTOR):
    customer = make_customer(session, tenant)
    point = add_contact(session, customer, "email", "maria@example.com", owner=owner)
    receivable = make_receivable(session, customer, date(2026, 11, 10))
    message = OutboxMessage(
        tenant_id=tenant.id,
        customer_id=customer.id,
        contact_point_id=point.id,
        channel=Channel.EMAIL,
        address=point.value,
        step_key="aviso_d1",
        template="aviso_atraso",
        plan_date=date(2026, 11, 23),
        idempotency_key=f"test:{customer.id}",
        scheduled_for=OPEN_HOURS,
        next_attempt_at=OPEN_HOURS,
    )
    session.add(message)
    session.flush()
    session.add(
        OutboxReceivable(tenant_id=tenant.id, outbox_id=message.id, receivable_id=receivable.id)
    )
    session.flush()
    return customer, receivable, message


def test_sends_when_everything_allows(session: Session, tenant: Tenant) -> None:
    _, _, message = queued(session, tenant)
    assert check_before_send(session, message, now=OPEN_HOURS).send


def test_paid_since_planning(session: Session, tenant: Tenant) -> None:
    _, receivable, message = queued(session, tenant)
    pay(session, receivable, date(2026, 11, 22))
    decision = check_before_send(session, message, now=OPEN_HOURS)
    assert decision.reason is SuppressionReason.PAID
    record_suppression(session, message, SuppressionReason.PAID, now=OPEN_HOURS)
    record_suppression(session, message, SuppressionReason.PAID, now=OPEN_HOURS)
    rows = session.query(ContactSuppression).filter_by(tenant_id=tenant.id).all()
    assert [(r.reason, r.step_key) for r in rows] == [(SuppressionReason.PAID, "aviso_d1")]


def test_opt_out_after_planning(session: Session, tenant: Tenant) -> None:
    customer, _, message = queued(session, tenant)
    session.add(
        ChannelOptOut(
            tenant_id=tenant.id,
            customer_id=customer.id,
            channel=Channel.EMAIL,
            source="test",
            created_at=OPEN_HOURS,
        )
    )
    session.flush()
    assert check_before_send(session, message, now=OPEN_HOURS).reason is SuppressionReason.OPT_OUT


def test_customer_flags(session: Session, tenant: Tenant) -> None:
    customer, _, message = queued(session, tenant)
    customer.disputed = True
    session.flush()
    assert check_before_send(session, message, now=OPEN_HOURS).reason is (
        SuppressionReason.DISPUTED
    )


def test_third_party_and_invalid_points(session: Session, tenant: Tenant) -> None:
    _, _, message = queued(session, tenant, owner=ContactOwner.THIRD_PARTY)
    assert check_before_send(session, message, now=OPEN_HOURS).reason is (
        SuppressionReason.THIRD_PARTY
    )


def test_missing_creditor_identification_blocks(session: Session, tenant: Tenant) -> None:
    _, _, message = queued(session, tenant)
    tenant.address = ""
    session.flush()
    assert check_before_send(session, message, now=OPEN_HOURS).reason is (
        SuppressionReason.MISSING_CREDITOR_ID
    )


def test_outside_window_is_rescheduled_not_cancelled(session: Session, tenant: Tenant) -> None:
    _, _, message = queued(session, tenant)
    night = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)  # 22:00 Monday in São Paulo
    decision = check_before_send(session, message, now=night)
    assert not decision.send and decision.reason is None
    assert decision.not_before is not None
    assert decision.not_before.astimezone(UTC) == datetime(2026, 11, 24, 11, 0, tzinfo=UTC)


def test_daily_cap_counts_what_was_sent(session: Session, tenant: Tenant) -> None:
    customer, _, message = queued(session, tenant)
    earlier = OutboxMessage(
        tenant_id=tenant.id,
        customer_id=customer.id,
        channel=Channel.EMAIL,
        address="maria@example.com",
        step_key="lembrete",
        template="lembrete_vencimento",
        plan_date=date(2026, 11, 23),
        idempotency_key=f"earlier:{customer.id}",
        scheduled_for=OPEN_HOURS - timedelta(hours=2),
        next_attempt_at=OPEN_HOURS - timedelta(hours=2),
        status="sent",
        sent_at=OPEN_HOURS - timedelta(hours=2),
    )
    session.add(earlier)
    session.flush()
    decision = check_before_send(session, message, now=OPEN_HOURS)
    assert not decision.send and decision.not_before is not None
    assert decision.not_before.date() == date(2026, 11, 24)
