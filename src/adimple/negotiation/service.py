"""Negotiation service: agreements (acordos) made from the ready-made offers (DESIGN §4.4).

- :func:`create_agreement` turns one of :func:`~adimple.charges.service.offers_for_customer`'s
  offers into an :class:`Agreement`: each installment becomes a new receivable (so PIX, boleto,
  reconciliation and settlement work on it unchanged), the original receivables are suspended
  (status ``agreement``, their charge documents withdrawn), contacts still queued are cancelled
  and the live case is paused.
- :func:`installments_settled` is called by :mod:`adimple.payments.settlement` after every
  payment (CNAB, PIX webhook, manual): the 1st installment paid activates the agreement, the
  last one completes it — the originals are then paid through ``apply_payments`` (source
  ``agreement``), which cures the case and schedules bureau removals.
- :func:`check_agreements` (run at the start of the daily cycle) breaks an active agreement
  with an installment unpaid past its due date + the policy's tolerance, and cancels a pending
  one whose 1st installment lapsed: unpaid installments are cancelled, the originals reopen
  with what was paid in the agreement imputed to them (oldest first) and collection resumes.

Functions take the session first and keyword-only arguments; they flush, never commit.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from adimple.audit import service as audit
from adimple.cadence import events
from adimple.db.base import utcnow
from adimple.db.dialect import insert_ignoring_conflicts
from adimple.kit.errors import Conflict, DomainError, NotFound
from adimple.kit.i18n import brl, short_date
from adimple.kit.money import CENT, ZERO, money_str
from adimple.messaging.models import Task, TaskKind
from adimple.negotiation.models import (
    LIVE_STATUSES,
    Agreement,
    AgreementChannel,
    AgreementCounter,
    AgreementInstallment,
    AgreementReceivable,
    AgreementStatus,
)
from adimple.portfolio.models import Customer, Payment, PaymentSource, Receivable, ReceivableStatus
from adimple.tenancy.models import Tenant

if TYPE_CHECKING:
    from adimple.payments.settlement import PaymentInput

_CHUNK = 500
# Receivables still owed (a written-off título is still owed; the write-off is an accounting loss).
_OWED = (ReceivableStatus.OPEN, ReceivableStatus.AGREEMENT, ReceivableStatus.WRITTEN_OFF)

STATUS_LABELS = {
    AgreementStatus.PENDING: "Aguardando o pagamento da 1ª parcela",
    AgreementStatus.ACTIVE: "Ativo",
    AgreementStatus.COMPLETED: "Quitado",
    AgreementStatus.BROKEN: "Rompido (parcela não paga)",
    AgreementStatus.CANCELLED: "Cancelado (1ª parcela não paga)",
}
INSTALLMENT_LABELS = {
    "paid": "Paga",
    "open": "Em aberto",
    "overdue": "Vencida",
    "cancelled": "Cancelada",
}


class OfferNotAvailable(Conflict):
    """The chosen offer is no longer offered as it was (the debt or the policy changed)."""

    title = "Proposta indisponível"


class AgreementExists(Conflict):
    """The customer already has an agreement pending or in force."""

    title = "Acordo existente"


# --- creation ----------------------------------------------------------------------------------


def create_agreement(
    session: Session,
    *,
    tenant_id: uuid.UUID,
    customer_id: uuid.UUID,
    offer_id: str,
    as_of: date,
    channel: AgreementChannel | str,
    actor: str,
    consent: dict[str, Any],
    idempotency_key: str | None = None,
    expected_total: Decimal | None = None,
) -> Agreement:
    """Fecha um acordo: the offer ``offer_id`` as recomputed on ``as_of`` becomes an agreement.

    ``idempotency_key`` (a double click, a resubmitted form) returns the agreement already made
    with it. ``expected_total`` (what the debtor was shown), when given, must still be the
    offer's total. Raises :class:`OfferNotAvailable`, :class:`AgreementExists` or ``NotFound``.
    """
    # Imported here: the daily cycle imports this module for check_agreements, and the offer
    # engine (its policy models) is a large import every `adimple run` would otherwise pay.
    from adimple.charges.offers import first_due_date
    from adimple.charges.service import get_active_policy, offers_for_customer

    channel = AgreementChannel(channel)
    # The customer row lock serialises two creations for one debtor (PostgreSQL; SQLite
    # serialises writers with BEGIN IMMEDIATE): the second one sees the first's agreement.
    customer = session.scalars(
        select(Customer)
        .where(Customer.tenant_id == tenant_id, Customer.id == customer_id)
        .with_for_update()
    ).first()
    if customer is None:
        raise NotFound("devedor não encontrado")
    if idempotency_key is not None:
        existing = _by_idempotency_key(session, tenant_id, idempotency_key)
        if existing is not None:
            return _same_request(existing, customer_id)
    live = _live_agreement(session, tenant_id, customer_id)
    if live is not None:
        raise AgreementExists(
            f"o devedor já tem o acordo {live.number} ({STATUS_LABELS[live.status].lower()})",
            agreement_id=str(live.id),
        )
    policy = get_active_policy(session, tenant_id=tenant_id)
    # The same receivables offers_for_customer negotiates: open, with a balance, due before the
    # first payment date. Locked so a payment arriving meanwhile waits for the agreement.
    originals = list(
        session.scalars(
            select(Receivable)
            .where(
                Receivable.tenant_id == tenant_id,
                Receivable.customer_id == customer_id,
                Receivable.status == ReceivableStatus.OPEN,
                Receivable.balance > ZERO,
                Receivable.due_date < first_due_date(as_of, policy),
            )
            .order_by(Receivable.due_date, Receivable.external_id)
            .with_for_update()
        )
    )
    offers = offers_for_customer(session, tenant_id=tenant_id, customer_id=customer_id, as_of=as_of)
    offer = next((o for o in offers if o.id == offer_id), None)
    if offer is None or not originals:
        available = ", ".join(o.id for o in offers) or "nenhuma"
        raise OfferNotAvailable(
            f"a proposta '{offer_id}' não está mais disponível em {short_date(as_of)}; "
            f"propostas atuais: {available}"
        )
    if expected_total is not None and expected_total != offer.total:
        raise OfferNotAvailable(
            f"o valor da proposta '{offer_id}' mudou de {brl(expected_total)} para "
            f"{brl(offer.total)}; confira a proposta atualizada"
        )

    now = utcnow()
    number = _next_number(session, tenant_id)
    agreement = Agreement(
        id=uuid.uuid4(),
        tenant_id=tenant_id,
        customer_id=customer_id,
        number=number,
        status=AgreementStatus.PENDING,
        offer_id=offer.id,
        offer=offer.as_contract(explain=True),
        installments_count=offer.installments,
        total=offer.total,
        discount=offer.discount,
        created_on=as_of,
        channel=channel,
        created_by=actor,
        consent=_consent(consent, now),
        tolerance_days=policy.agreements.tolerance_days,
        idempotency_key=idempotency_key,
    )
    try:
        with session.begin_nested():
            session.add(agreement)
            session.flush()
    except IntegrityError:
        # A concurrent request won the race (same idempotency key, or another agreement for
        # this customer): answer with what it made.
        if idempotency_key is not None:
            existing = _by_idempotency_key(session, tenant_id, idempotency_key)
            if existing is not None:
                return _same_request(existing, customer_id)
        raise AgreementExists("o devedor já tem um acordo em andamento") from None

    count = offer.installments
    parts: list[AgreementInstallment] = []
    for index, (due, amount) in enumerate(
        zip(offer.due_dates, offer.installment_amounts, strict=True), start=1
    ):
        receivable = Receivable(
            id=uuid.uuid4(),
            tenant_id=tenant_id,
            customer_id=customer_id,
            external_id=f"acordo:{number}:{index}",
            contract=number,
            installment_number=index,
            installment_count=count,
            issue_date=as_of,
            due_date=due,
            original_amount=amount,
            balance=amount,
            status=ReceivableStatus.OPEN,
            description=f"Acordo {number} — parcela {index}/{count}",
        )
        session.add(receivable)
        parts.append(
            AgreementInstallment(
                tenant_id=tenant_id,
                agreement_id=agreement.id,
                number=index,
                due_date=due,
                amount=amount,
                receivable_id=receivable.id,
            )
        )
    session.flush()  # the receivables first: no ORM relationship orders these inserts
    session.add_all(parts)
    for original in originals:
        session.add(
            AgreementReceivable(
                tenant_id=tenant_id,
                agreement_id=agreement.id,
                receivable_id=original.id,
                balance=original.balance,
            )
        )
        original.status = ReceivableStatus.AGREEMENT
        original.updated_at = now
    session.flush()
    _withdraw_charges(session, tenant_id, [r.id for r in originals], actor)
    effects = events.agreement_made(
        session, tenant_id=tenant_id, customer_id=customer_id, on=as_of, key=number
    )
    audit.record(
        session,
        tenant_id=tenant_id,
        actor=actor,
        action="agreement.created",
        entity_type="agreement",
        entity_id=agreement.id,
        data={
            "number": number,
            "customer_id": str(customer_id),
            "channel": channel.value,
            "offer": agreement.offer,
            "consent": agreement.consent,
            "originals": [
                {"receivable_id": str(r.id), "balance": money_str(r.balance)} for r in originals
            ],
            "cancelled_messages": effects.cancelled_messages,
        },
    )
    session.flush()
    return agreement


def _consent(consent: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The consent as recorded: strings only, ``accepted_at`` filled, the terms' hash when
    the terms text itself was given (``terms_text`` is not stored, only its SHA-256)."""
    if not isinstance(consent, dict):
        raise DomainError("consentimento inválido: informe um objeto com o aceite dos termos")
    data = {str(k): None if v is None else str(v) for k, v in consent.items()}
    text = data.pop("terms_text", None)
    if text is not None:
        data["terms_sha256"] = hashlib.sha256(text.encode()).hexdigest()
    data.setdefault("accepted_at", now.isoformat())
    return data


def _by_idempotency_key(session: Session, tenant_id: uuid.UUID, key: str) -> Agreement | None:
    return session.scalars(
        select(Agreement).where(Agreement.tenant_id == tenant_id, Agreement.idempotency_key == key)
    ).first()


def _same_request(existing: Agreement, customer_id: uuid.UUID) -> Agreement:
    if existing.customer_id != customer_id:
        raise Conflict("chave de idempotência já usada para outro devedor")
    return existing


def _live_agreement(
    session: Session, tenant_id: uuid.UUID, customer_id: uuid.UUID
) -> Agreement | None:
    return session.scalars(
        select(Agreement).where(
            Agreement.tenant_id == tenant_id,
            Agreement.customer_id == customer_id,
            Agreement.status.in_(LIVE_STATUSES),
        )
    ).first()


def _next_number(session: Session, tenant_id: uuid.UUID) -> str:
    """The tenant's next "AC-000123": one row per tenant, advanced by ``UPDATE … RETURNING``
    (its row lock makes two concurrent agreements take different numbers)."""
    table = AgreementCounter.__table__
    session.execute(
        insert_ignoring_conflicts(session.connection(), table).values(
            tenant_id=tenant_id, last_number=0
        )
    )
    value = session.execute(
        update(AgreementCounter)
        .where(AgreementCounter.tenant_id == tenant_id)
        .values(last_number=AgreementCounter.last_number + 1)
        .returning(AgreementCounter.last_number)
        .execution_options(synchronize_session=False)
    ).scalar_one()
    return f"AC-{value:06d}"


def _withdraw_charges(
    session: Session, tenant_id: uuid.UUID, receivable_ids: Sequence[uuid.UUID], actor: str
) -> None:
    """Boletos and PIX charges of these receivables can no longer be paid (cobv cancelled at
    the PSP); a late payment of an old code still matches the receivable and is applied."""
    from adimple.payments.billing.service import cancel_charges

    for receivable_id in receivable_ids:
        cancel_charges(session, tenant_id=tenant_id, receivable_id=receivable_id, actor=actor)


# --- payments: activation and completion -------------------------------------------------------


def installments_settled(
    session: Session,
    *,
    tenant_id: uuid.UUID,
    receivable_ids: Sequence[uuid.UUID],
    on: date,
    actor: str,
) -> list[Agreement]:
    """Settlement hook: payments were applied to these receivables; the agreements whose
    installments they are are activated (1st installment paid) or completed (all paid)."""
    ids = list(receivable_ids)
    agreement_ids: set[uuid.UUID] = set()
    for start in range(0, len(ids), _CHUNK):
        agreement_ids.update(
            session.scalars(
                select(AgreementInstallment.agreement_id).where(
                    AgreementInstallment.tenant_id == tenant_id,
                    AgreementInstallment.receivable_id.in_(ids[start : start + _CHUNK]),
                )
            )
        )
    if not agreement_ids:
        return []
    changed = []
    for agreement in session.scalars(
        select(Agreement)
        .where(
            Agreement.tenant_id == tenant_id,
            Agreement.id.in_(sorted(agreement_ids, key=str)),
            Agreement.status.in_(LIVE_STATUSES),
        )
        .order_by(Agreement.id)
        .with_for_update()
    ).all():
        if _advance(session, agreement, on=on, actor=actor):
            changed.append(agreement)
    return changed


def _installment_rows(
    session: Session, agreement: Agreement
) -> list[tuple[AgreementInstallment, Receivable]]:
    return [
        (row[0], row[1])
        for row in session.execute(
            select(AgreementInstallment, Receivable)
            .join(Receivable, Receivable.id == AgreementInstallment.receivable_id)
            .where(
                AgreementInstallment.tenant_id == agreement.tenant_id,
                AgreementInstallment.agreement_id == agreement.id,
            )
            .order_by(AgreementInstallment.number)
        )
    ]


def _advance(session: Session, agreement: Agreement, *, on: date, actor: str) -> bool:
    rows = _installment_rows(session, agreement)
    paid = [r.status == ReceivableStatus.PAID for _, r in rows]
    changed = False
    if agreement.status == AgreementStatus.PENDING and rows and paid[0]:
        agreement.status = AgreementStatus.ACTIVE
        agreement.activated_at = utcnow()
        audit.record(
            session,
            tenant_id=agreement.tenant_id,
            actor=actor,
            action="agreement.activated",
            entity_type="agreement",
            entity_id=agreement.id,
            data={"number": agreement.number, "on": on.isoformat()},
        )
        changed = True
    if rows and all(paid) and agreement.status == AgreementStatus.ACTIVE:
        _complete(session, agreement, on=on, actor=actor)
        changed = True
    session.flush()
    return changed


def _complete(session: Session, agreement: Agreement, *, on: date, actor: str) -> None:
    """Every installment paid: the originals are paid by the agreement (source ``agreement``):
    the agreement's total is shared among them in proportion to their balances; what exceeds a
    balance is charges (correção, multa, juros), what falls short is the discount granted."""
    from adimple.payments.settlement import apply_payments

    agreement.status = AgreementStatus.COMPLETED
    agreement.completed_at = utcnow()
    agreement.ended_reason = "paid"
    originals = _owed_originals(session, agreement)
    shares = split_pro_rata(agreement.total, [r.balance for r in originals])
    items = []
    for receivable, share in zip(originals, shares, strict=True):
        if share <= ZERO:
            continue
        items.append(
            _agreement_payment(
                agreement,
                receivable,
                gross=share,
                on=on,
                charges=max(ZERO, share - receivable.balance),
                discount=max(ZERO, receivable.balance - share),
            )
        )
    # The case paused for the agreement resumes first, so the settlement hook can cure it.
    events.agreement_ended(
        session,
        tenant_id=agreement.tenant_id,
        customer_id=agreement.customer_id,
        on=on,
        key=agreement.number,
    )
    apply_payments(session, tenant_id=agreement.tenant_id, items=items, actor=actor)
    audit.record(
        session,
        tenant_id=agreement.tenant_id,
        actor=actor,
        action="agreement.completed",
        entity_type="agreement",
        entity_id=agreement.id,
        data={
            "number": agreement.number,
            "on": on.isoformat(),
            "originals": [
                {"receivable_id": str(r.id), "share": money_str(s)}
                for r, s in zip(originals, shares, strict=True)
            ],
        },
    )


def _agreement_payment(
    agreement: Agreement,
    receivable: Receivable,
    *,
    gross: Decimal,
    on: date,
    charges: Decimal,
    discount: Decimal = ZERO,
) -> PaymentInput:
    """A payment of an original by the agreement (source ``agreement``): the agreement says how
    the money splits, as a bank's breakdown does (charges, and the discount granted)."""
    from adimple.payments.settlement import PaymentBreakdown
    from adimple.payments.settlement import PaymentInput as Input

    return Input(
        receivable_id=receivable.id,
        gross=gross,
        paid_on=on,
        source=PaymentSource.AGREEMENT,
        external_id=f"acordo:{agreement.number}:{receivable.id.hex}",
        breakdown=PaymentBreakdown(charges=charges, discount=discount),
        details={"agreement_id": str(agreement.id), "agreement": agreement.number},
    )


def _owed_originals(session: Session, agreement: Agreement) -> list[Receivable]:
    """The agreement's original receivables still suspended with a balance, oldest first."""
    return list(
        session.scalars(
            select(Receivable)
            .join(AgreementReceivable, AgreementReceivable.receivable_id == Receivable.id)
            .where(
                AgreementReceivable.tenant_id == agreement.tenant_id,
                AgreementReceivable.agreement_id == agreement.id,
                Receivable.status == ReceivableStatus.AGREEMENT,
            )
            .order_by(Receivable.due_date, Receivable.external_id)
            .with_for_update()
        )
    )


def split_pro_rata(total: Decimal, weights: Sequence[Decimal]) -> list[Decimal]:
    """Shares of ``total`` in proportion to ``weights`` (largest remainder, to the centavo):
    they add up exactly to ``total``, and every positive weight gets at least one centavo when
    ``total`` allows it (a payment row needs a positive amount)."""
    if not weights:
        return []
    cents = int(total / CENT)
    whole = sum(int(w / CENT) for w in weights)
    if whole <= 0:
        return [total] + [ZERO] * (len(weights) - 1)
    raw = [cents * int(w / CENT) for w in weights]
    shares = [r // whole for r in raw]
    order = sorted(range(len(weights)), key=lambda i: (-(raw[i] % whole), i))
    for i in order[: cents - sum(shares)]:
        shares[i] += 1
    for i, w in enumerate(weights):
        if w > ZERO and shares[i] == 0:
            donor = max(range(len(shares)), key=lambda j: shares[j])
            if shares[donor] > 1:
                shares[donor] -= 1
                shares[i] = 1
    return [Decimal(s) * CENT for s in shares]


# --- breach ------------------------------------------------------------------------------------


def check_agreements(session: Session, *, tenant_id: uuid.UUID, on: date) -> dict[str, Any]:
    """Quebra de acordo: agreements with an installment unpaid past due date + tolerance.

    A pending agreement (1st installment never paid) is cancelled (lapsed); an active one is
    broken. Either way the unpaid installments are cancelled, the originals reopen with what
    was paid imputed to them (oldest first), the case resumes today and an operator task says
    why. Idempotent: an agreement that ended is not looked at again.
    """
    candidates = sorted(
        set(
            session.scalars(
                select(AgreementInstallment.agreement_id)
                .join(Receivable, Receivable.id == AgreementInstallment.receivable_id)
                .join(Agreement, Agreement.id == AgreementInstallment.agreement_id)
                .where(
                    AgreementInstallment.tenant_id == tenant_id,
                    AgreementInstallment.due_date < on,
                    Agreement.status.in_(LIVE_STATUSES),
                    Receivable.status == ReceivableStatus.OPEN,
                )
            )
        ),
        key=str,
    )
    broken: list[str] = []
    lapsed: list[str] = []
    failed: list[dict[str, str]] = []
    for start in range(0, len(candidates), _CHUNK):
        for agreement in session.scalars(
            select(Agreement)
            .where(
                Agreement.tenant_id == tenant_id,
                Agreement.id.in_(candidates[start : start + _CHUNK]),
                Agreement.status.in_(LIVE_STATUSES),
            )
            .order_by(Agreement.id)
            .with_for_update()
        ).all():
            rows = _installment_rows(session, agreement)
            limit = on - timedelta(days=agreement.tolerance_days)
            missed = [
                (inst, r)
                for inst, r in rows
                if r.status == ReceivableStatus.OPEN and inst.due_date < limit
            ]
            if not missed:
                continue
            try:
                with session.begin_nested():
                    lapse = agreement.status == AgreementStatus.PENDING
                    _end_unpaid(session, agreement, rows, missed[0][0], on=on, lapse=lapse)
            except DomainError as exc:
                # E.g. the PSP reports a PIX charge paid: the payment is on its way; next time.
                failed.append({"number": agreement.number, "reason": exc.detail})
                continue
            (lapsed if lapse else broken).append(agreement.number)
    return {
        "date": on.isoformat(),
        "checked": len(candidates),
        "broken": broken,
        "lapsed": lapsed,
        "failed": failed,
    }


def _end_unpaid(
    session: Session,
    agreement: Agreement,
    rows: list[tuple[AgreementInstallment, Receivable]],
    missed: AgreementInstallment,
    *,
    on: date,
    lapse: bool,
) -> None:
    from adimple.payments.settlement import apply_payments

    actor = "negotiation"
    tenant_id = agreement.tenant_id
    now = utcnow()
    agreement.status = AgreementStatus.CANCELLED if lapse else AgreementStatus.BROKEN
    agreement.ended_reason = (
        f"parcela {missed.number} de {short_date(missed.due_date)} não paga "
        f"({agreement.tolerance_days} dias de tolerância)"
    )
    if not lapse:
        agreement.broken_at = now
    unpaid = [r for _, r in rows if r.status == ReceivableStatus.OPEN]
    for receivable in unpaid:
        receivable.status = ReceivableStatus.CANCELLED
    session.flush()
    _withdraw_charges(session, tenant_id, [r.id for r in unpaid], actor)
    paid = _paid_in_agreement(session, tenant_id, [r.id for _, r in rows])

    originals = _owed_originals(session, agreement)
    for receivable in originals:
        receivable.status = ReceivableStatus.OPEN
        receivable.updated_at = now  # the daily cycle looks at títulos changed since its run
    session.flush()
    # Imputação: what was paid goes to the oldest originals first (CC art. 355: the oldest
    # debt when the payer does not say otherwise); beyond every balance it paid charges.
    items = []
    remaining = paid
    for index, receivable in enumerate(originals):
        last = index == len(originals) - 1
        principal = min(remaining, receivable.balance)
        charges = remaining - principal if last else ZERO
        if principal + charges <= ZERO:
            break
        items.append(
            _agreement_payment(
                agreement, receivable, gross=principal + charges, on=on, charges=charges
            )
        )
        remaining -= principal + charges
    events.agreement_ended(
        session, tenant_id=tenant_id, customer_id=agreement.customer_id, on=on, key=agreement.number
    )
    apply_payments(session, tenant_id=tenant_id, items=items, actor=actor)
    what = "cancelado" if lapse else "rompido"
    session.add(
        Task(
            tenant_id=tenant_id,
            customer_id=agreement.customer_id,
            kind=TaskKind.MANUAL,
            idempotency_key=f"agreement_ended:{agreement.id}",
            due_on=on,
            priority=80,
            title=(
                f"Acordo {agreement.number} {what}: {agreement.ended_reason}; cobrança retomada"
            )[:200],
            data={
                "agreement_id": str(agreement.id),
                "number": agreement.number,
                "paid_in_agreement": money_str(paid),
            },
        )
    )
    audit.record(
        session,
        tenant_id=tenant_id,
        actor=actor,
        action="agreement.lapsed" if lapse else "agreement.broken",
        entity_type="agreement",
        entity_id=agreement.id,
        data={
            "number": agreement.number,
            "on": on.isoformat(),
            "missed_installment": missed.number,
            "paid_in_agreement": money_str(paid),
            "cancelled_installments": [str(r.id) for r in unpaid],
            "imputed": [
                {"receivable_id": str(i.receivable_id), "amount": money_str(i.gross)} for i in items
            ],
        },
    )
    session.flush()


def _paid_in_agreement(
    session: Session, tenant_id: uuid.UUID, receivable_ids: Sequence[uuid.UUID]
) -> Decimal:
    """What the installments' payments paid of the agreement itself (late charges excluded)."""
    value = session.scalar(
        select(func.coalesce(func.sum(Payment.principal), ZERO)).where(
            Payment.tenant_id == tenant_id, Payment.receivable_id.in_(list(receivable_ids))
        )
    )
    return Decimal(value or 0)


# --- reads (operator API, CLI and the debtor portal) ---------------------------------------------


def list_agreements(
    session: Session, *, tenant_id: uuid.UUID, customer_id: uuid.UUID
) -> list[Agreement]:
    """The customer's agreements, newest first."""
    return list(
        session.scalars(
            select(Agreement)
            .where(Agreement.tenant_id == tenant_id, Agreement.customer_id == customer_id)
            .order_by(Agreement.created_at.desc(), Agreement.number.desc())
        )
    )


def get_agreement(
    session: Session,
    *,
    tenant_id: uuid.UUID,
    customer_id: uuid.UUID | None,
    agreement_id: uuid.UUID,
) -> Agreement:
    """One agreement of this customer (``customer_id`` None: of any of the tenant's
    customers, for staff). Another customer's or tenant's agreement is ``NotFound``."""
    query = select(Agreement).where(Agreement.tenant_id == tenant_id, Agreement.id == agreement_id)
    if customer_id is not None:
        query = query.where(Agreement.customer_id == customer_id)
    agreement = session.scalars(query).first()
    if agreement is None:
        raise NotFound("acordo não encontrado")
    return agreement


def get_agreement_by_number(session: Session, *, tenant_id: uuid.UUID, number: str) -> Agreement:
    agreement = session.scalars(
        select(Agreement).where(Agreement.tenant_id == tenant_id, Agreement.number == number)
    ).first()
    if agreement is None:
        raise NotFound(f"acordo {number} não encontrado")
    return agreement


@dataclass(frozen=True)
class InstallmentView:
    number: int
    due_date: date
    amount: Decimal
    status: str  # paid | open | overdue | cancelled
    status_label: str
    receivable_id: uuid.UUID
    balance: Decimal
    paid_on: date | None


@dataclass(frozen=True)
class OriginalView:
    receivable_id: uuid.UUID
    external_id: str
    contract: str | None
    description: str | None
    due_date: date
    original_amount: Decimal
    balance_at_agreement: Decimal
    status: str


@dataclass(frozen=True)
class AgreementView:
    """What a debtor or an operator sees of an agreement (labels in pt-BR)."""

    id: uuid.UUID
    customer_id: uuid.UUID
    number: str
    status: str
    status_label: str
    channel: str
    offer_id: str
    offer_label: str
    created_on: date
    activated_at: datetime | None
    completed_at: datetime | None
    broken_at: datetime | None
    ended_reason: str | None
    installments_count: int
    total: Decimal
    discount: Decimal
    paid: Decimal
    remaining: Decimal
    installments: tuple[InstallmentView, ...]
    originals: tuple[OriginalView, ...]
    next_installment: InstallmentView | None

    def as_contract(self) -> dict[str, Any]:
        """JSON for the API and the CLI: money as "0.00", dates ISO."""

        def installment(i: InstallmentView) -> dict[str, Any]:
            return {
                "number": i.number,
                "due_date": i.due_date.isoformat(),
                "amount": money_str(i.amount),
                "status": i.status,
                "status_label": i.status_label,
                "receivable_id": str(i.receivable_id),
                "balance": money_str(i.balance),
                "paid_on": i.paid_on.isoformat() if i.paid_on else None,
            }

        def stamp(value: datetime | None) -> str | None:
            return value.isoformat() if value else None

        return {
            "id": str(self.id),
            "customer_id": str(self.customer_id),
            "number": self.number,
            "status": self.status,
            "status_label": self.status_label,
            "channel": self.channel,
            "offer_id": self.offer_id,
            "offer_label": self.offer_label,
            "created_on": self.created_on.isoformat(),
            "activated_at": stamp(self.activated_at),
            "completed_at": stamp(self.completed_at),
            "broken_at": stamp(self.broken_at),
            "ended_reason": self.ended_reason,
            "installments_count": self.installments_count,
            "total": money_str(self.total),
            "discount": money_str(self.discount),
            "paid": money_str(self.paid),
            "remaining": money_str(self.remaining),
            "installments": [installment(i) for i in self.installments],
            "originals": [
                {
                    "receivable_id": str(o.receivable_id),
                    "external_id": o.external_id,
                    "contract": o.contract,
                    "description": o.description,
                    "due_date": o.due_date.isoformat(),
                    "original_amount": money_str(o.original_amount),
                    "balance_at_agreement": money_str(o.balance_at_agreement),
                    "status": o.status,
                }
                for o in self.originals
            ],
            "next_installment": installment(self.next_installment)
            if self.next_installment
            else None,
        }


def agreement_view(
    session: Session, agreement: Agreement, *, as_of: date | None = None
) -> AgreementView:
    """The agreement with its installments (paid, open, overdue or cancelled as of ``as_of``,
    default today in the tenant's time zone), the receivables it replaced and what is next."""
    day = as_of or _tenant_today(session, agreement.tenant_id)
    rows = _installment_rows(session, agreement)
    paid_on: dict[uuid.UUID, date] = {
        rid: on
        for rid, on in session.execute(
            select(Payment.receivable_id, func.max(Payment.paid_on))
            .where(
                Payment.tenant_id == agreement.tenant_id,
                Payment.receivable_id.in_([r.id for _, r in rows] or [uuid.uuid4()]),
            )
            .group_by(Payment.receivable_id)
        )
    }
    installments = []
    for inst, receivable in rows:
        if receivable.status == ReceivableStatus.PAID:
            state = "paid"
        elif receivable.status == ReceivableStatus.OPEN:
            state = "overdue" if inst.due_date < day else "open"
        else:
            state = "cancelled"
        installments.append(
            InstallmentView(
                number=inst.number,
                due_date=inst.due_date,
                amount=inst.amount,
                status=state,
                status_label=INSTALLMENT_LABELS[state],
                receivable_id=receivable.id,
                balance=receivable.balance,
                paid_on=paid_on.get(receivable.id) if state == "paid" else None,
            )
        )
    originals = tuple(
        OriginalView(
            receivable_id=r.id,
            external_id=r.external_id,
            contract=r.contract,
            description=r.description,
            due_date=r.due_date,
            original_amount=r.original_amount,
            balance_at_agreement=link.balance,
            status=r.status.value,
        )
        for link, r in session.execute(
            select(AgreementReceivable, Receivable)
            .join(Receivable, Receivable.id == AgreementReceivable.receivable_id)
            .where(
                AgreementReceivable.tenant_id == agreement.tenant_id,
                AgreementReceivable.agreement_id == agreement.id,
            )
            .order_by(Receivable.due_date, Receivable.external_id)
        )
    )
    paid = sum((i.amount - i.balance for i in installments), ZERO)
    live = agreement.status in LIVE_STATUSES
    remaining = (
        sum((i.balance for i in installments if i.status in ("open", "overdue")), ZERO)
        if live
        else ZERO
    )
    upcoming = [i for i in installments if i.status in ("open", "overdue")] if live else []
    return AgreementView(
        id=agreement.id,
        customer_id=agreement.customer_id,
        number=agreement.number,
        status=agreement.status.value,
        status_label=STATUS_LABELS[agreement.status],
        channel=agreement.channel.value,
        offer_id=agreement.offer_id,
        offer_label=str(agreement.offer.get("label", agreement.offer_id)),
        created_on=agreement.created_on,
        activated_at=agreement.activated_at,
        completed_at=agreement.completed_at,
        broken_at=agreement.broken_at,
        ended_reason=agreement.ended_reason,
        installments_count=agreement.installments_count,
        total=agreement.total,
        discount=agreement.discount,
        paid=paid,
        remaining=remaining,
        installments=tuple(installments),
        originals=originals,
        next_installment=upcoming[0] if upcoming else None,
    )


def is_settled_in_full(session: Session, *, tenant_id: uuid.UUID, customer_id: uuid.UUID) -> bool:
    """Nothing owed and at least one receivable paid: the carta de quitação may be issued."""
    owed = session.scalar(
        select(func.count())
        .select_from(Receivable)
        .where(
            Receivable.tenant_id == tenant_id,
            Receivable.customer_id == customer_id,
            Receivable.status.in_(_OWED),
            Receivable.balance > ZERO,
        )
    )
    if owed:
        return False
    paid = session.scalar(
        select(func.count())
        .select_from(Receivable)
        .where(
            Receivable.tenant_id == tenant_id,
            Receivable.customer_id == customer_id,
            Receivable.status == ReceivableStatus.PAID,
        )
    )
    return bool(paid)


def _tenant_today(session: Session, tenant_id: uuid.UUID) -> date:
    tenant = session.get(Tenant, tenant_id)
    zone = tenant.timezone if tenant is not None else "America/Sao_Paulo"
    return datetime.now(ZoneInfo(zone)).date()
