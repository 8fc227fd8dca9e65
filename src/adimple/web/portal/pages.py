"""What the portal pages show, built from the domain services (no SQL of the pages' own here
beyond scoping reads to the session's customer). Every read takes the tenant *and* the customer
of the session: an id of another customer is simply not found (HTTP 404)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from adimple.charges.calculator import Quote, quote_or_explain
from adimple.charges.service import (
    PricingVersion,
    pricing,
    pricing_version_columns,
    pricing_version_of,
)
from adimple.kit.errors import NotFound
from adimple.kit.money import ZERO
from adimple.messaging.models import Task, TaskKind
from adimple.negotiation.models import LIVE_STATUSES, Agreement
from adimple.portfolio.models import (
    Channel,
    ChannelOptOut,
    ContactKind,
    ContactOwner,
    ContactPoint,
    Customer,
    Payment,
    PaymentSource,
    Receivable,
    ReceivableStatus,
)
from adimple.tenancy.models import Tenant
from adimple.web.portal import access
from adimple.web.portal.models import PortalSession


@dataclass(frozen=True)
class Creditor:
    """Identificação do credor on every page (CDC art. 42-A)."""

    name: str
    trade_name: str
    document: str
    address: str
    city: str  # where the carta de quitação is dated
    email: str
    phone: str


def creditor_of(tenant: Tenant) -> Creditor:
    from adimple.messaging.render import creditor_address, format_document

    return Creditor(
        name=tenant.legal_name,
        trade_name=(tenant.trade_name or tenant.legal_name),
        document=format_document(tenant.document),
        address=creditor_address(tenant),
        city=tenant.city,
        email=tenant.contact_email or "",
        phone=tenant.contact_phone or "",
    )


@dataclass(frozen=True)
class DebtItem:
    receivable: Receivable
    quote: Quote
    pending_update: bool = False  # an index month not yet published was left out

    @property
    def title(self) -> str:
        r = self.receivable
        if r.description:
            return r.description
        label = f"Contrato {r.contract}" if r.contract else f"Título {r.external_id}"
        if r.installment_number and r.installment_count:
            label += f", parcela {r.installment_number}/{r.installment_count}"
        return label


@dataclass
class DebtSummary:
    items: list[DebtItem] = field(default_factory=list)
    in_agreement: list[Receivable] = field(default_factory=list)

    @property
    def total(self) -> Decimal:
        return sum((i.quote.total for i in self.items), ZERO)

    @property
    def overdue(self) -> list[DebtItem]:
        return [i for i in self.items if i.quote.days_late > 0]


def customer_of(session: Session, *, tenant_id: uuid.UUID, customer_id: uuid.UUID) -> Customer:
    customer = session.scalars(
        select(Customer).where(Customer.tenant_id == tenant_id, Customer.id == customer_id)
    ).first()
    if customer is None:
        raise NotFound("devedor não encontrado")
    return customer


# The offers page's first facts, read with the session itself: the customer's live agreement,
# if any, and the current pricing version.
OFFERS_LOOKUP = access.session_lookup(
    select(Agreement.id)
    .where(
        Agreement.tenant_id == PortalSession.tenant_id,
        Agreement.customer_id == PortalSession.customer_id,
        Agreement.status.in_(LIVE_STATUSES),
    )
    .limit(1)
    .scalar_subquery(),
    *pricing_version_columns(PortalSession.tenant_id),
    # The page shows no customer data; the offers need only whether CDC protects the debtor.
    customer_columns=(
        Customer.id,
        Customer.tenant_id,
        Customer.name,
        Customer.document_kind,
        Customer.consumer,
    ),
)


def offers_context(live: access.LiveSession) -> tuple[uuid.UUID | None, PricingVersion]:
    """(live agreement id or None, pricing version) from a session read with OFFERS_LOOKUP."""
    return live.extra[0], pricing_version_of(live.extra[1:])


def debts(session: Session, *, tenant: Tenant, customer: Customer, today: date) -> DebtSummary:
    """Each open título with its update to today (principal, correção, multa, juros, taxas)."""
    receivables = session.scalars(
        select(Receivable)
        .where(
            Receivable.tenant_id == tenant.id,
            Receivable.customer_id == customer.id,
            Receivable.status.in_((ReceivableStatus.OPEN, ReceivableStatus.AGREEMENT)),
            Receivable.balance > ZERO,
        )
        .order_by(Receivable.due_date, Receivable.external_id)
    ).all()
    summary = DebtSummary()
    open_ = [r for r in receivables if r.status == ReceivableStatus.OPEN]
    summary.in_agreement = [r for r in receivables if r.status == ReceivableStatus.AGREEMENT]
    if open_:
        policy, book = pricing(session, tenant_id=tenant.id)
        for r in open_:
            quote, pending = quote_or_explain(
                r.balance, r.due_date, today, customer.is_consumer, policy, book
            )
            summary.items.append(DebtItem(r, quote, pending))
    return summary


def receivable_of(
    session: Session, *, tenant_id: uuid.UUID, customer_id: uuid.UUID, receivable_id: uuid.UUID
) -> Receivable:
    receivable = session.scalars(
        select(Receivable).where(
            Receivable.tenant_id == tenant_id,
            Receivable.customer_id == customer_id,
            Receivable.id == receivable_id,
        )
    ).first()
    if receivable is None:
        raise NotFound("título não encontrado")
    return receivable


def payments_of(session: Session, *, tenant_id: uuid.UUID, customer_id: uuid.UUID) -> list[Any]:
    """Pagamentos recebidos, newest first, with the título each paid (agreement allocations
    are internal bookkeeping and not receipts of money)."""
    rows = session.execute(
        select(Payment, Receivable)
        .join(Receivable, Receivable.id == Payment.receivable_id)
        .where(
            Payment.tenant_id == tenant_id,
            Payment.customer_id == customer_id,
            Payment.source != PaymentSource.AGREEMENT,
        )
        .order_by(Payment.paid_on.desc(), Payment.created_at.desc())
    ).all()
    return list(rows)


def payment_of(
    session: Session, *, tenant_id: uuid.UUID, customer_id: uuid.UUID, payment_id: uuid.UUID
) -> tuple[Payment, Receivable]:
    row = session.execute(
        select(Payment, Receivable)
        .join(Receivable, Receivable.id == Payment.receivable_id)
        .where(
            Payment.tenant_id == tenant_id,
            Payment.customer_id == customer_id,
            Payment.id == payment_id,
            Payment.source != PaymentSource.AGREEMENT,
        )
    ).first()
    if row is None:
        raise NotFound("pagamento não encontrado")
    return row[0], row[1]


# --- contact preferences ------------------------------------------------------------------------

PREFERENCE_CHANNELS = (Channel.EMAIL, Channel.SMS, Channel.WHATSAPP, Channel.LETTER)


@dataclass(frozen=True)
class Preferences:
    contacts: list[ContactPoint]
    opted_out: set[Channel]
    preferred_id: uuid.UUID | None
    best_start: time | None
    best_end: time | None


def preferences(session: Session, *, tenant_id: uuid.UUID, customer_id: uuid.UUID) -> Preferences:
    """The debtor's own contact points only: a third party's number is never shown."""
    contacts = list(
        session.scalars(
            select(ContactPoint)
            .where(
                ContactPoint.tenant_id == tenant_id,
                ContactPoint.customer_id == customer_id,
                ContactPoint.owner == ContactOwner.DEBTOR,
                ContactPoint.invalid_at.is_(None),
            )
            .order_by(ContactPoint.kind, ContactPoint.value)
        )
    )
    opted = set(
        session.scalars(
            select(ChannelOptOut.channel).where(
                ChannelOptOut.tenant_id == tenant_id, ChannelOptOut.customer_id == customer_id
            )
        )
    )
    preferred = next((c for c in contacts if c.preferred), None)
    timed = next((c for c in contacts if c.best_hour_start and c.best_hour_end), None)
    return Preferences(
        contacts=contacts,
        opted_out={Channel(c) for c in opted},
        preferred_id=preferred.id if preferred else None,
        best_start=timed.best_hour_start if timed else None,
        best_end=timed.best_hour_end if timed else None,
    )


def mask_contact(contact: ContactPoint) -> str:
    """An e-mail or phone shown half-hidden (the page may be seen over a shoulder)."""
    value = contact.value
    if contact.kind == ContactKind.EMAIL and "@" in value:
        user, _, domain = value.partition("@")
        return f"{user[:2]}{'•' * max(1, len(user) - 2)}@{domain}"
    if contact.kind == ContactKind.PHONE:
        tail = value[-4:]
        return f"{'•' * max(0, len(value) - 4)}{tail}"
    return value


def save_preferences(
    session: Session,
    *,
    tenant_id: uuid.UUID,
    customer_id: uuid.UUID,
    preferred_id: uuid.UUID | None,
    best_start: time | None,
    best_end: time | None,
    opt_out: set[Channel],
    now: datetime,
) -> None:
    """Applies the form: preferred contact, best hours, and opt-out per channel (both ways)."""
    from adimple.audit import service as audit
    from adimple.messaging import inbound

    prefs = preferences(session, tenant_id=tenant_id, customer_id=customer_id)
    ids = {c.id for c in prefs.contacts}
    if preferred_id is not None and preferred_id not in ids:
        raise NotFound("contato não encontrado")
    for contact in prefs.contacts:
        contact.preferred = contact.id == preferred_id
        contact.best_hour_start = best_start
        contact.best_hour_end = best_end
    for channel in PREFERENCE_CHANNELS:
        if channel in opt_out and channel not in prefs.opted_out:
            inbound.opt_out(
                session,
                tenant_id=tenant_id,
                customer_id=customer_id,
                channel=channel,
                source="portal",
                actor="portal",
                now=now,
            )
        elif channel not in opt_out and channel in prefs.opted_out:
            session.execute(
                delete(ChannelOptOut).where(
                    ChannelOptOut.tenant_id == tenant_id,
                    ChannelOptOut.customer_id == customer_id,
                    ChannelOptOut.channel == channel,
                )
            )
    audit.record(
        session,
        tenant_id=tenant_id,
        actor="portal",
        action="portal.preferences",
        entity_type="customer",
        entity_id=customer_id,
        data={
            "preferred": str(preferred_id) if preferred_id else None,
            "best_hours": [str(best_start), str(best_end)] if best_start and best_end else None,
            "opt_out": sorted(c.value for c in opt_out),
        },
    )


# --- LGPD requests ------------------------------------------------------------------------------

LGPD_KINDS = {
    "acesso": "Acesso aos meus dados",
    "correcao": "Correção de dados incompletos, inexatos ou desatualizados",
    "informacao": "Informação sobre com quem meus dados foram compartilhados",
}


def lgpd_request(
    session: Session,
    *,
    tenant_id: uuid.UUID,
    customer_id: uuid.UUID,
    kind: str,
    message: str,
    today: date,
    now: datetime,
) -> Task:
    """Requisição do titular (LGPD art. 18): a task for the creditor's team, answered within
    15 days (art. 19 II)."""
    from datetime import timedelta

    from adimple.audit import service as audit

    protocol = f"LGPD-{now.strftime('%Y%m%d')}-{uuid.uuid4().hex[:6].upper()}"
    task = Task(
        tenant_id=tenant_id,
        customer_id=customer_id,
        kind=TaskKind.LGPD_REQUEST,
        idempotency_key=f"lgpd:{protocol}",
        due_on=today + timedelta(days=15),
        priority=50,
        title=f"Requisição LGPD ({LGPD_KINDS[kind].lower()}) — protocolo {protocol}",
        notes=message,
        data={"protocol": protocol, "kind": kind, "source": "portal"},
    )
    session.add(task)
    session.flush()
    audit.record(
        session,
        tenant_id=tenant_id,
        actor="portal",
        action="portal.lgpd_request",
        entity_type="task",
        entity_id=task.id,
        data={"protocol": protocol, "kind": kind},
    )
    return task
