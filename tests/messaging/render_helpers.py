"""Builders for the template/render/channel tests (``import render_helpers``)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from adimple.messaging.models import OutboxMessage, OutboxReceivable
from adimple.portfolio.models import Channel, ContactKind, ContactPoint, Customer, Receivable
from adimple.tenancy.models import Tenant
from builders import add_contact, make_customer, make_receivable

# Monday 23/11/2026 14:00 in São Paulo.
NOW = datetime(2026, 11, 23, 17, 0, tzinfo=UTC)
TODAY = date(2026, 11, 23)

ADDRESSES = {
    Channel.EMAIL: (ContactKind.EMAIL, "maria.silva@example.com"),
    Channel.SMS: (ContactKind.PHONE, "+5511987654321"),
    Channel.WHATSAPP: (ContactKind.PHONE, "+5511987654321"),
    Channel.LETTER: (ContactKind.ADDRESS, "Rua das Flores, 10, ap. 3\n01000-000 São Paulo/SP"),
}


def customer_with_debt(
    session: Session,
    tenant: Tenant,
    *,
    dues: tuple[tuple[date, str], ...] = ((date(2026, 11, 2), "250.00"),),
    name: str = "Maria da Silva",
) -> tuple[Customer, list[Receivable]]:
    customer = make_customer(session, tenant, name=name)
    receivables = [
        make_receivable(
            session,
            customer,
            due,
            amount,
            contract="4471",
            installment_number=i + 1,
            installment_count=10,
        )
        for i, (due, amount) in enumerate(dues)
    ]
    return customer, receivables


def outbox_for(
    session: Session,
    tenant: Tenant,
    customer: Customer,
    receivables: list[Receivable],
    *,
    channel: Channel,
    template: str,
) -> OutboxMessage:
    kind, value = ADDRESSES[channel]
    point = session.scalars(
        select(ContactPoint).where(
            ContactPoint.customer_id == customer.id,
            ContactPoint.kind == kind,
            ContactPoint.value == value,
        )
    ).first() or add_contact(session, customer, kind, value)
    message = OutboxMessage(
        tenant_id=tenant.id,
        customer_id=customer.id,
        contact_point_id=point.id,
        channel=channel,
        address=point.value,
        step_key="d21",
        template=template,
        plan_date=TODAY,
        idempotency_key=f"{TODAY}:{customer.id.hex[:8]}:d21:{channel.value}:{uuid.uuid4().hex[:6]}",
        scheduled_for=NOW,
        next_attempt_at=NOW,
    )
    session.add(message)
    session.flush()
    session.add_all(
        OutboxReceivable(tenant_id=tenant.id, outbox_id=message.id, receivable_id=r.id)
        for r in receivables
    )
    session.flush()
    return message
