"""What a charge document asks for — pure code (no database, no web).

For one open receivable (its balance and due date), the tenant's policy and a reading date:

* **Not yet overdue** (``as_of`` ≤ the due date rolled to a bank business day): the document keeps
  the título's own due date and its balance; after that date the bank or PSP adds the policy's
  multa (once) and juros de mora (% ao mês, calendar days) — the usual boleto/cobv instructions.
* **Overdue**: the document gets a *new* due date ``days_to_pay`` bank business days after
  ``as_of`` (default 3: long enough for a letter or a message to be read, short enough for the
  amount to stay accurate) and the debt updated to that date by the charges calculator
  (correção, multa, juros, honorários — itemised). The multa is inside that amount, so after the
  new due date only juros run, as a value per calendar day (the calculator's simple interest on
  the corrected principal): the multa is never charged twice.

Consumers (CPF, or a company flagged consumer): the multa is capped at 2% (CDC art. 52 §1º,
Lei 9.298/1996). The charges calculator *refuses* a policy above the cap; a charge document
instead applies the cap, because the excess of the clause is void while the debt itself is due.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_DOWN, Decimal
from typing import Any

from adimple.charges.calculator import Quote, quote_installment
from adimple.charges.indices import IndexBook, SeriesName
from adimple.charges.policy import (
    CONSUMER_FINE_CAP,
    LegalInterest,
    MonthlySimpleInterest,
    Policy,
)
from adimple.kit.calendar import add_bank_business_days, next_bank_business_day
from adimple.kit.i18n import brl, percent, short_date
from adimple.kit.money import ZERO, money_str, quantize

DEFAULT_DAYS_TO_PAY = 3


@dataclass(frozen=True)
class AfterDue:
    """Charges the bank or PSP adds when the document is paid after its due date."""

    fine_percent: Decimal = ZERO  # multa, % of the document amount, once
    interest_monthly_percent: Decimal | None = None  # juros % ao mês, calendar days
    interest_per_day: Decimal | None = None  # juros R$ per calendar day

    def lines(self, due_date: date) -> list[str]:
        """pt-BR instructions printed on the boleto and shown with the PIX code."""
        after = f"Após {short_date(due_date)}"
        parts = []
        if self.fine_percent > 0:
            parts.append(f"multa de {percent(self.fine_percent)}")
        if self.interest_monthly_percent:
            rate = percent(self.interest_monthly_percent)
            parts.append(f"juros de {rate} ao mês pro rata die")
        if self.interest_per_day:
            parts.append(f"juros de {brl(self.interest_per_day)} por dia de atraso")
        if not parts:
            return [f"{after}, sem multa ou juros."]
        return [f"{after}, cobrar " + " e ".join(parts) + "."]

    def as_dict(self) -> dict[str, Any]:
        return {
            "fine_percent": str(self.fine_percent),
            "interest_monthly_percent": None
            if self.interest_monthly_percent is None
            else str(self.interest_monthly_percent),
            "interest_per_day": None
            if self.interest_per_day is None
            else money_str(self.interest_per_day),
        }


@dataclass(frozen=True)
class ChargeTerms:
    """Amount and due date of a charge document, with the itemised quote behind the amount."""

    receivable_due_date: date
    due_date: date
    amount: Decimal
    overdue: bool
    quote: Quote
    after_due: AfterDue
    fine_capped: bool = False
    notes: tuple[str, ...] = field(default=())

    def breakdown(self) -> dict[str, Any]:
        q = self.quote
        return {
            "principal": money_str(q.principal),
            "correction": money_str(q.correction),
            "fine": money_str(q.fine),
            "interest": money_str(q.interest),
            "fees": money_str(q.fees),
            "discount": money_str(q.discount),
            "total": money_str(self.amount),
            "days_late": q.days_late,
        }

    def instructions(self) -> list[str]:
        lines = []
        if self.overdue:
            lines.append(
                f"Título vencido em {short_date(self.receivable_due_date)}, atualizado até "
                f"{short_date(self.due_date)}: {brl(self.amount)}."
            )
        lines.extend(self.after_due.lines(self.due_date))
        lines.extend(self.notes)
        return lines

    def fingerprint(self, *extra: str) -> str:
        """Changes whenever what the debtor would be asked to pay changes."""
        data = {
            "due": self.due_date.isoformat(),
            "amount": money_str(self.amount),
            "after_due": self.after_due.as_dict(),
            "extra": list(extra),
        }
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def debtor_policy(policy: Policy, consumer: bool) -> tuple[Policy, bool]:
    """The policy as applied to this debtor: multa capped at 2% for consumers (CDC art. 52 §1)."""
    if consumer and policy.fine_percent > CONSUMER_FINE_CAP:
        return policy.model_copy(update={"fine_percent": CONSUMER_FINE_CAP}), True
    return policy, False


def document_due_date(receivable_due: date, as_of: date, days_to_pay: int) -> date:
    """The título's own due date while it is not overdue; else ``days_to_pay`` bank business
    days after ``as_of``."""
    if as_of <= next_bank_business_day(receivable_due):
        return receivable_due
    return add_bank_business_days(as_of, days_to_pay)


def charge_terms(
    *,
    balance: Decimal,
    receivable_due: date,
    due_date: date,
    policy: Policy,
    consumer: bool,
    indices: IndexBook | None = None,
) -> ChargeTerms:
    """Terms of a document due on ``due_date`` (see :func:`document_due_date`)."""
    applied, capped = debtor_policy(policy, consumer)
    overdue = due_date > next_bank_business_day(receivable_due)
    # On the título's own due date the quote is the balance itself (no early-payoff discount:
    # that is for a payment *before* the due date, offered by negotiation, CDC art. 52 §2).
    quote = quote_installment(
        principal=balance,
        due_date=receivable_due,
        as_of=due_date if overdue else receivable_due,
        policy=applied,
        consumer=consumer,
        indices=indices,
    )
    charged = overdue and quote.days_late > applied.grace_days
    if charged:
        after = AfterDue(interest_per_day=_interest_per_day(applied, quote))
    else:
        after = AfterDue(
            fine_percent=applied.fine_percent,
            interest_monthly_percent=_monthly_rate(applied, indices),
        )
    notes: tuple[str, ...] = ()
    if capped:
        notes = ("Multa limitada a 2% (CDC art. 52 §1º).",)
    return ChargeTerms(
        receivable_due_date=receivable_due,
        due_date=due_date,
        amount=quote.total,
        overdue=overdue,
        quote=quote,
        after_due=after,
        fine_capped=capped,
        notes=notes,
    )


def _interest_per_day(policy: Policy, quote: Quote) -> Decimal | None:
    if isinstance(policy.interest, MonthlySimpleInterest):
        if policy.interest.monthly_percent <= 0:
            return None
        # The calculator's simple interest: corrected principal × rate ÷ 30 per calendar day.
        per_day = quantize(quote.corrected_principal * policy.interest.monthly_percent / 3000)
        return per_day if per_day > 0 else None
    if quote.interest > 0 and quote.days_late > 0:
        per_day = quantize(quote.interest / quote.days_late)  # taxa legal: average daily rate
        return per_day if per_day > 0 else None
    return None


def _monthly_rate(policy: Policy, indices: IndexBook | None) -> Decimal | None:
    if isinstance(policy.interest, MonthlySimpleInterest):
        # API Pix valorPerc and the printed instruction carry two decimals: round down, so the
        # bank or PSP never charges more than the contract rate.
        rate = quantize(policy.interest.monthly_percent, ROUND_DOWN)
        return rate if rate > 0 else None
    if isinstance(policy.interest, LegalInterest):
        # The taxa legal changes monthly; a bank or PSP takes one rate, so the latest published
        # month is used (CC art. 406 §1, floor zero).
        book = indices if indices is not None else IndexBook.packaged()
        series = book.get(SeriesName.TAXA_LEGAL)
        last = series.last_month
        if last is None:
            return None
        rate = max(ZERO, series.percent(last))
        rate = quantize(rate, ROUND_DOWN)  # API Pix valorPerc has two decimals
        return rate if rate > 0 else None
    return None
