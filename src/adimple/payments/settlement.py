"""Baixa de pagamento: THE one way money is applied to a receivable.

CNAB return files, PIX webhooks, manual payments and agreements all call :func:`apply_payment`
(or :func:`apply_payments` for a batch). It

1. is idempotent by ``external_id`` (unique per tenant): the same movement again returns the
   payment already recorded and changes nothing; the same id with another amount or receivable
   is a :class:`~adimple.kit.errors.Conflict`;
2. splits the money (imputação) into ``charges`` (correção, multa, juros, fees), ``principal``
   (what lowers the balance), ``discount`` (written down with it) and ``overpaid`` (to refund):

   * with a bank breakdown (CNAB ``valor_juros``, ``valor_desconto``, ``valor_abatimento``)
     the bank is trusted: charges = juros; the título value settled = paid − juros + desconto
     + abatimento;
   * otherwise (PIX, manual) the debt is updated to ``paid_on`` under the tenant's active
     policy and, Código Civil art. 354, the money goes first to the accrued charges, then to
     principal. A later payment of the same receivable only pays the charges accrued since the
     previous one (the multa is charged once) plus any charges an earlier payment left unpaid;

3. keeps ``balance = original − Σ principal − Σ discount``; ``paid`` when it reaches zero;
4. flags money beyond what was owed (or any payment of a closed título) as an overpayment:
   ``refund_status = pending``, a ``refund`` task and an audit event — CDC art. 42 parágrafo
   único: an undue charge that was paid must be returned;
5. calls :func:`adimple.cadence.events.receivables_settled` (contacts cancelled, cases cured,
   bureau records removed within 5 business days — STJ Súmula 548), then
   :func:`adimple.negotiation.service.installments_settled` (an agreement installment paid
   activates or completes its agreement).

Money that arrived is never refused. When the charges cannot be computed as the policy asks
(an index month not published yet — the shipped IPCA ends 2026-09 —, or the taxa legal before
it existed) the charges are computed without the missing months, or set to zero, and the
payment is marked ``details["provisional_charges"] = true`` with the reason, so staff can
review it once the index is imported.

Everything happens in the caller's transaction (flush, never commit).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from adimple.audit import service as audit
from adimple.cadence.events import SettlementEffects, receivables_settled
from adimple.charges.calculator import Quote, QuoteError, quote_installment
from adimple.charges.indices import IndexBook, IndexPoint, MissingIndexMonth, SeriesName
from adimple.charges.policy import Policy, PolicyError
from adimple.charges.service import pricing
from adimple.kit.calendar import add_bank_business_days
from adimple.kit.errors import Conflict, FieldError, NotFound, ValidationFailed
from adimple.kit.i18n import brl
from adimple.kit.money import ZERO, money_str, quantize
from adimple.messaging.models import Task, TaskKind
from adimple.negotiation.service import installments_settled
from adimple.portfolio.models import (
    Customer,
    Imputation,
    Payment,
    PaymentSource,
    Receivable,
    ReceivableStatus,
    RefundStatus,
)

REFUND_TASK_BUSINESS_DAYS = 5  # an operator's deadline to start the refund (house rule)
_MAX_MISSING_MONTHS = 240
_HOOK_CHUNK = 1000
_PREFETCH_CHUNK = 500

# Statuses whose balance a payment may still lower. A written-off título is still owed (the
# write-off is an accounting loss, not a remission); a cancelled one is not owed at all.
_OWING = (ReceivableStatus.OPEN, ReceivableStatus.WRITTEN_OFF, ReceivableStatus.AGREEMENT)


@dataclass(frozen=True)
class PaymentBreakdown:
    """What the bank says the paid amount contains (CNAB Segmento U / detail record)."""

    charges: Decimal = ZERO  # valor_juros: juros + multa + encargos
    discount: Decimal = ZERO  # valor_desconto
    rebate: Decimal = ZERO  # valor_abatimento


@dataclass(frozen=True)
class PaymentInput:
    """One payment for :func:`apply_payments` (same fields as :func:`apply_payment`)."""

    receivable_id: uuid.UUID
    gross: Decimal
    paid_on: date
    source: PaymentSource
    external_id: str
    fees: Decimal = ZERO
    credited_on: date | None = None
    breakdown: PaymentBreakdown | None = None
    details: dict[str, Any] | None = None


@dataclass(frozen=True)
class Allocation:
    principal: Decimal
    charges: Decimal
    discount: Decimal
    overpaid: Decimal
    charges_due: Decimal  # what the charges were (paid or not), for the next payment
    imputation: Imputation
    provisional: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SettlementResult:
    payment: Payment
    created: bool  # False: this external_id was already applied; nothing changed
    receivable_id: uuid.UUID
    receivable_status: ReceivableStatus
    balance: Decimal
    effects: SettlementEffects | None = None

    @property
    def overpaid(self) -> Decimal:
        return self.payment.overpaid

    @property
    def closed(self) -> bool:
        return self.receivable_status == ReceivableStatus.PAID

    def as_dict(self) -> dict[str, Any]:
        p = self.payment
        return {
            "payment_id": str(p.id),
            "external_id": p.external_id,
            "created": self.created,
            "receivable_id": str(self.receivable_id),
            "receivable_status": str(self.receivable_status),
            "balance": money_str(self.balance),
            "gross": money_str(p.gross),
            "principal": money_str(p.principal),
            "charges": money_str(p.charges),
            "discount": money_str(p.discount),
            "overpaid": money_str(p.overpaid),
            "provisional_charges": bool(p.details.get("provisional_charges")),
        }


def apply_payment(
    session: Session,
    *,
    tenant_id: uuid.UUID,
    receivable_id: uuid.UUID,
    gross: Decimal,
    paid_on: date,
    source: PaymentSource,
    external_id: str,
    fees: Decimal = ZERO,
    credited_on: date | None = None,
    breakdown: PaymentBreakdown | None = None,
    details: dict[str, Any] | None = None,
    actor: str,
) -> SettlementResult:
    """Records one payment and everything it settles (see the module docstring)."""
    item = PaymentInput(
        receivable_id=receivable_id,
        gross=gross,
        paid_on=paid_on,
        source=source,
        external_id=external_id,
        fees=fees,
        credited_on=credited_on,
        breakdown=breakdown,
        details=details,
    )
    result = _apply_one(session, tenant_id=tenant_id, item=item, actor=actor)
    if not result.created:
        return result
    effects = receivables_settled(
        session, tenant_id=tenant_id, receivable_ids=[receivable_id], on=paid_on, actor=actor
    )
    installments_settled(
        session, tenant_id=tenant_id, receivable_ids=[receivable_id], on=paid_on, actor=actor
    )
    return SettlementResult(
        payment=result.payment,
        created=True,
        receivable_id=result.receivable_id,
        receivable_status=result.receivable_status,
        balance=result.balance,
        effects=effects,
    )


def apply_payments(
    session: Session,
    *,
    tenant_id: uuid.UUID,
    items: Sequence[PaymentInput],
    actor: str,
) -> list[SettlementResult]:
    """Applies several payments in order; the settlement hook runs once per payment date.

    Same semantics as calling :func:`apply_payment` for each item (payments of one receivable
    are applied in the order given).
    """
    # Two queries per 500 payments instead of two per payment: which external ids exist, and
    # the receivables (locked FOR UPDATE on PostgreSQL, in id order to avoid deadlocks).
    existing: set[str] = set()
    receivables: dict[uuid.UUID, Receivable] = {}
    external_ids = sorted({item.external_id for item in items})
    receivable_ids = sorted({item.receivable_id for item in items}, key=str)
    for start in range(0, len(external_ids), _PREFETCH_CHUNK):
        existing.update(
            session.scalars(
                select(Payment.external_id).where(
                    Payment.tenant_id == tenant_id,
                    Payment.external_id.in_(external_ids[start : start + _PREFETCH_CHUNK]),
                )
            )
        )
    for start in range(0, len(receivable_ids), _PREFETCH_CHUNK):
        for row in session.scalars(
            select(Receivable)
            .where(
                Receivable.tenant_id == tenant_id,
                Receivable.id.in_(receivable_ids[start : start + _PREFETCH_CHUNK]),
            )
            .order_by(Receivable.id)
            .with_for_update()
        ):
            receivables[row.id] = row
    results = []
    for item in items:
        known_new = item.external_id not in existing
        results.append(
            _apply_one(
                session,
                tenant_id=tenant_id,
                item=item,
                actor=actor,
                known_new=known_new,
                receivable=receivables.get(item.receivable_id),
            )
        )
        existing.add(item.external_id)  # a repeat in the same batch is looked up
    by_date: dict[date, set[uuid.UUID]] = {}
    for item, result in zip(items, results, strict=True):
        if result.created:
            by_date.setdefault(item.paid_on, set()).add(item.receivable_id)
    for on, ids in sorted(by_date.items()):
        ordered = sorted(ids, key=str)
        for start in range(0, len(ordered), _HOOK_CHUNK):  # bounded IN lists (SQLite)
            receivables_settled(
                session,
                tenant_id=tenant_id,
                receivable_ids=ordered[start : start + _HOOK_CHUNK],
                on=on,
                actor=actor,
            )
        # Agreement installments among them: activation (1st paid) or completion (all paid).
        installments_settled(
            session, tenant_id=tenant_id, receivable_ids=ordered, on=on, actor=actor
        )
    return results


# --- internals ---------------------------------------------------------------------------------


def _check_input(item: PaymentInput) -> None:
    errors = []
    if item.gross <= ZERO or quantize(item.gross) != item.gross:
        errors.append(FieldError("gross", "must be a positive amount with at most 2 decimals"))
    if item.fees < ZERO or item.fees > item.gross or quantize(item.fees) != item.fees:
        errors.append(FieldError("fees", "must be between 0 and the gross amount"))
    if not item.external_id or len(item.external_id) > 80:
        errors.append(FieldError("external_id", "required, at most 80 characters"))
    if errors:
        raise ValidationFailed(errors=errors, message="invalid payment")


def _existing(
    session: Session, tenant_id: uuid.UUID, item: PaymentInput
) -> SettlementResult | None:
    payment = session.scalar(
        select(Payment).where(
            Payment.tenant_id == tenant_id, Payment.external_id == item.external_id
        )
    )
    if payment is None:
        return None
    if payment.receivable_id != item.receivable_id or payment.gross != item.gross:
        raise Conflict(
            f"payment '{item.external_id}' was already recorded with another amount or "
            f"receivable ({money_str(payment.gross)} on {payment.receivable_id})"
        )
    receivable = session.get(Receivable, payment.receivable_id)
    assert receivable is not None  # FK
    return SettlementResult(
        payment=payment,
        created=False,
        receivable_id=receivable.id,
        receivable_status=receivable.status,
        balance=receivable.balance,
    )


def _apply_one(
    session: Session,
    *,
    tenant_id: uuid.UUID,
    item: PaymentInput,
    actor: str,
    known_new: bool = False,
    receivable: Receivable | None = None,
) -> SettlementResult:
    """``known_new``: the caller already checked that no payment has this external_id;
    ``receivable``: already loaded (and locked) for this tenant by the caller."""
    _check_input(item)
    if not known_new:
        existing = _existing(session, tenant_id, item)
        if existing is not None:
            return existing
    if receivable is None:
        # FOR UPDATE on PostgreSQL: two payments of one receivable are applied one after the
        # other (SQLite serialises writers with BEGIN IMMEDIATE).
        receivable = session.scalar(
            select(Receivable)
            .where(Receivable.tenant_id == tenant_id, Receivable.id == item.receivable_id)
            .with_for_update()
        )
    if receivable is None or receivable.tenant_id != tenant_id:
        raise NotFound(f"receivable {item.receivable_id} not found")
    allocation = _allocate(session, tenant_id=tenant_id, receivable=receivable, item=item)

    details = dict(item.details or {})
    details["charges_due"] = money_str(allocation.charges_due)
    if allocation.provisional:
        details["provisional_charges"] = True
        details.update(allocation.provisional)
    payment = Payment(
        id=uuid.uuid4(),
        tenant_id=tenant_id,
        external_id=item.external_id,
        receivable_id=receivable.id,
        customer_id=receivable.customer_id,
        source=item.source,
        gross=item.gross,
        fees=item.fees,
        net=item.gross - item.fees,
        paid_on=item.paid_on,
        credited_on=item.credited_on,
        details=details,
        principal=allocation.principal,
        charges=allocation.charges,
        discount=allocation.discount,
        overpaid=allocation.overpaid,
        imputation=allocation.imputation,
        refund_status=RefundStatus.PENDING if allocation.overpaid > 0 else RefundStatus.NONE,
    )
    before_status, before_balance = receivable.status, receivable.balance
    applied = allocation.principal + allocation.discount
    after_balance = max(ZERO, before_balance - applied)
    after_status = before_status
    if applied > 0 and after_balance == ZERO and before_status in _OWING:
        after_status = ReceivableStatus.PAID
    try:
        # One savepoint and one flush per payment. A concurrent request may insert the same
        # external_id first (PostgreSQL waits for it, then reports the unique violation):
        # everything below is undone and that payment is the answer.
        with session.begin_nested():
            session.add(payment)
            if applied > 0:
                receivable.balance = after_balance
                receivable.status = after_status
            audit.record(
                session,
                tenant_id=tenant_id,
                actor=actor,
                action="payment.applied",
                entity_type="payment",
                entity_id=payment.id,
                data={
                    "external_id": payment.external_id,
                    "source": str(item.source),
                    "receivable_id": str(receivable.id),
                    "gross": money_str(item.gross),
                    "principal": money_str(allocation.principal),
                    "charges": money_str(allocation.charges),
                    "discount": money_str(allocation.discount),
                    "overpaid": money_str(allocation.overpaid),
                    "imputation": str(allocation.imputation),
                    "balance": {
                        "before": money_str(before_balance),
                        "after": money_str(after_balance),
                    },
                    "status": {"before": str(before_status), "after": str(after_status)},
                    **({"provisional_charges": True} if allocation.provisional else {}),
                },
            )
            if allocation.overpaid > 0:
                _flag_overpayment(session, tenant_id=tenant_id, payment=payment, actor=actor)
            session.flush()
    except IntegrityError:
        existing = _existing(session, tenant_id, item)
        if existing is None:
            raise
        return existing
    return SettlementResult(
        payment=payment,
        created=True,
        receivable_id=receivable.id,
        receivable_status=after_status,
        balance=after_balance,
    )


def _flag_overpayment(
    session: Session, *, tenant_id: uuid.UUID, payment: Payment, actor: str
) -> None:
    """CDC art. 42 parágrafo único: what was paid beyond the debt goes back to the payer."""
    session.add(
        Task(
            tenant_id=tenant_id,
            customer_id=payment.customer_id,
            kind=TaskKind.REFUND,
            idempotency_key=f"refund:{payment.id}",
            due_on=add_bank_business_days(payment.paid_on, REFUND_TASK_BUSINESS_DAYS),
            priority=90,
            title=f"Devolver {brl(payment.overpaid)} pagos a maior (CDC art. 42)",
            data={
                "payment_id": str(payment.id),
                "external_id": payment.external_id,
                "receivable_id": str(payment.receivable_id),
                "amount": money_str(payment.overpaid),
            },
        )
    )
    audit.record(
        session,
        tenant_id=tenant_id,
        actor=actor,
        action="payment.overpaid",
        entity_type="payment",
        entity_id=payment.id,
        data={"overpaid": money_str(payment.overpaid), "refund_status": "pending"},
    )


def _allocate(
    session: Session, *, tenant_id: uuid.UUID, receivable: Receivable, item: PaymentInput
) -> Allocation:
    owed = receivable.balance if receivable.status in _OWING else ZERO
    gross = item.gross
    if owed <= ZERO:
        # A second payment of a closed (or cancelled) título: all of it is to be returned.
        imputation = Imputation.BANK if item.breakdown else Imputation.CHARGES_FIRST
        return Allocation(ZERO, ZERO, ZERO, gross, ZERO, imputation)
    if item.breakdown is not None:
        return allocate_with_breakdown(gross=gross, owed=owed, breakdown=item.breakdown)
    charges_due, provisional = _charges_due(
        session, tenant_id=tenant_id, receivable=receivable, paid_on=item.paid_on
    )
    return allocate_charges_first(
        gross=gross,
        owed=owed,
        charges_due=charges_due.charges,
        discount=charges_due.discount,
        provisional=provisional,
    )


def allocate_with_breakdown(
    *, gross: Decimal, owed: Decimal, breakdown: PaymentBreakdown
) -> Allocation:
    """Trusts the bank: charges = juros; título settled = paid − juros + desconto + abatimento.

    Discounts granted by the bank never create an overpayment: they write down at most what is
    still owed after the cash applied to principal.
    """
    charges = min(max(breakdown.charges, ZERO), gross)
    cash_to_principal = gross - charges
    principal = min(cash_to_principal, owed)
    discount = min(max(breakdown.discount, ZERO) + max(breakdown.rebate, ZERO), owed - principal)
    overpaid = cash_to_principal - principal
    return Allocation(principal, charges, discount, overpaid, charges, Imputation.BANK)


def allocate_charges_first(
    *,
    gross: Decimal,
    owed: Decimal,
    charges_due: Decimal,
    discount: Decimal = ZERO,
    provisional: dict[str, Any] | None = None,
) -> Allocation:
    """Código Civil art. 354: first the accrued charges, then the principal.

    ``discount`` is the early-payoff reduction (CDC art. 52 §2) granted only when the payment
    settles the whole balance.
    """
    total = owed + charges_due - discount
    if gross >= total:
        return Allocation(
            principal=owed - discount,
            charges=charges_due,
            discount=discount,
            overpaid=gross - total,
            charges_due=charges_due,
            imputation=Imputation.CHARGES_FIRST,
            provisional=provisional or {},
        )
    charges = min(gross, charges_due)
    principal = min(gross - charges, owed)
    return Allocation(
        principal=principal,
        charges=charges,
        discount=ZERO,
        overpaid=gross - charges - principal,
        charges_due=charges_due,
        imputation=Imputation.CHARGES_FIRST,
        provisional=provisional or {},
    )


@dataclass(frozen=True)
class ChargesDue:
    charges: Decimal
    discount: Decimal


def _charges_due(
    session: Session, *, tenant_id: uuid.UUID, receivable: Receivable, paid_on: date
) -> tuple[ChargesDue, dict[str, Any]]:
    """Charges still owed on ``paid_on``: those accrued on the open balance since the previous
    payment (or the due date), plus those earlier payments left unpaid."""
    # Only payments whose charges were computed count here: an imported payment carries no
    # breakdown, so the charges on what remains still run from the due date.
    previous = list(
        session.execute(
            select(Payment.paid_on, Payment.charges, Payment.details).where(
                Payment.tenant_id == tenant_id,
                Payment.receivable_id == receivable.id,
                Payment.paid_on <= paid_on,
                Payment.imputation != Imputation.PRINCIPAL_ONLY,
            )
        )
    )
    unpaid = ZERO
    last: date | None = None
    for prev_on, prev_charges, prev_details in previous:
        due = _decimal(prev_details.get("charges_due")) if prev_details else None
        if due is not None and due > prev_charges:
            unpaid += due - prev_charges
        if last is None or prev_on > last:
            last = prev_on
    customer = session.get(Customer, receivable.customer_id)
    consumer = True if customer is None else customer.is_consumer
    policy, book = pricing(session, tenant_id=tenant_id)
    provisional: dict[str, Any] = {}
    now = _quote(receivable, paid_on, policy, consumer, book, provisional)
    if now is None:
        return ChargesDue(unpaid, ZERO), provisional
    accrued = now.correction + now.fine + now.interest + now.fees
    if last is not None and last > receivable.due_date:
        before = _quote(receivable, last, policy, consumer, book, provisional)
        if before is not None:
            accrued -= before.correction + before.fine + before.interest + before.fees
    discount = now.discount if not previous else ZERO
    return ChargesDue(max(ZERO, accrued) + unpaid, discount), provisional


def _quote(
    receivable: Receivable,
    as_of: date,
    policy: Policy,
    consumer: bool,
    book: IndexBook,
    provisional: dict[str, Any],
) -> Quote | None:
    """The calculator's quote; never refuses: missing index months count as 0% (provisional),
    and a quote the policy cannot compute at all returns None (charges taken as zero)."""
    missing: list[str] = []
    for _ in range(_MAX_MISSING_MONTHS):
        try:
            quote = quote_installment(
                principal=receivable.balance,
                due_date=receivable.due_date,
                as_of=as_of,
                policy=policy,
                consumer=consumer,
                indices=book,
            )
        except MissingIndexMonth as exc:
            missing.append(f"{exc.series}:{exc.month}")
            series = book.get(SeriesName(exc.series))
            book = book.with_series(
                series.overlay([IndexPoint(exc.month, ZERO, "provisional: not published yet")])
            )
            continue
        except (QuoteError, PolicyError) as exc:
            provisional["provisional_reason"] = exc.detail
            return None
        if missing:
            months = sorted(set(provisional.get("missing_index_months", [])) | set(missing))
            provisional["missing_index_months"] = months
            provisional["provisional_reason"] = "index months not published yet counted as 0%"
        return quote
    provisional["provisional_reason"] = "too many index months missing"  # pragma: no cover
    return None  # pragma: no cover


def _decimal(value: object) -> Decimal | None:
    try:
        return Decimal(str(value)) if value is not None else None
    except ArithmeticError:
        return None


def receivable_ids(results: Iterable[SettlementResult]) -> list[uuid.UUID]:
    return sorted({r.receivable_id for r in results}, key=str)
