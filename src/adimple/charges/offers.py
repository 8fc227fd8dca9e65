"""Settlement offers (propostas de acordo): à vista and parcelado plans — pure code.

From the updated debt (one or more :class:`Quote` as of the first payment date) and the policy:

- à vista: one payment on the first due date with the discount tier for 1 installment; always
  offered, whatever the minimum installment (a debtor may always pay the whole debt);
- parcelado, 2 … ``plans.max_installments`` payments: discount tier for that count; plan interest
  (Tabela Price, monthly compound) only beyond ``interest_free_installments``; a plan is offered
  only when every amount is ≥ ``plans.min_installment``.

Down payment (entrada): when ``n`` equal payments would each be below ``down_payment.min_percent``
of the negotiated amount, the first payment is that percentage (rounded up to the centavo) and the
other ``n − 1`` split the rest; otherwise the ``n`` payments are equal and the first one is the
entrada. Due dates: the first on ``as_of + first_due_days`` rolled to a bank business day, the
others on the same day of the following months (the month's last day when shorter), each rolled
to the next bank business day without interest (DESIGN §5).

``sum(installment_amounts) == total`` to the centavo: every installment but the last is rounded
(ROUND_DOWN without interest, ROUND_HALF_UP of the Price payment with interest) and the last one
takes the remainder.
"""

from __future__ import annotations

import calendar as _calendar
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_UP, Decimal, localcontext
from functools import cached_property
from typing import Any, Literal

from adimple.charges.calculator import Quote, quote_installment
from adimple.charges.indices import IndexBook
from adimple.charges.policy import DEFAULT_POLICY, Policy
from adimple.kit.calendar import next_bank_business_day
from adimple.kit.i18n import brl, percent, short_date
from adimple.kit.money import CENT, ZERO, money_str, quantize, split_evenly

_HUNDRED = Decimal(100)


@dataclass(frozen=True)
class DebtBase:
    """What the offers are built on: the sum of the quotes of the debts being negotiated."""

    principal: Decimal
    correction: Decimal
    charges: Decimal  # multa + juros + honorários
    early_discount: Decimal  # CDC art. 52 §2 on installments not yet due
    total: Decimal

    @property
    def updated_principal(self) -> Decimal:
        return self.principal + self.correction - self.early_discount

    @classmethod
    def from_quotes(cls, quotes: Sequence[Quote]) -> DebtBase:
        return cls(
            principal=sum((q.principal for q in quotes), ZERO),
            correction=sum((q.correction for q in quotes), ZERO),
            charges=sum((q.charges for q in quotes), ZERO),
            early_discount=sum((q.discount for q in quotes), ZERO),
            total=sum((q.total for q in quotes), ZERO),
        )


@dataclass(frozen=True)
class Offer:
    id: str
    label: str
    installments: int
    down_payment: Decimal
    installment_amounts: tuple[Decimal, ...]
    due_dates: tuple[date, ...]
    interest_percent: Decimal  # monthly plan interest (0 when interest-free)
    discount: Decimal
    total: Decimal
    # What the pt-BR explanation is written from, when it is asked for: the offers list never
    # shows it (a dozen plans, ~50 formatted amounts), the confirmation page and the API do.
    basis: tuple[DebtBase, Policy] | None = field(default=None, compare=False, repr=False)

    @cached_property
    def explanations(self) -> tuple[str, ...]:
        if self.basis is None:
            return ()
        debt, policy = self.basis
        return _explain(
            debt, self.discount, self.total, self.interest_percent, policy, self.installments
        )

    def as_contract(self, *, explain: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "label": self.label,
            "installments": self.installments,
            "down_payment": money_str(self.down_payment),
            "installment_amounts": [money_str(a) for a in self.installment_amounts],
            "due_dates": [d.isoformat() for d in self.due_dates],
            "interest_percent": _percent_str(self.interest_percent),
            "discount": money_str(self.discount),
            "total": money_str(self.total),
        }
        if explain:
            data["explanations"] = list(self.explanations)
        return data


def first_due_date(as_of: date, policy: Policy = DEFAULT_POLICY) -> date:
    return next_bank_business_day(as_of + timedelta(days=policy.plans.first_due_days))


def offers_for_installment(
    *,
    principal: Decimal,
    due_date: date,
    as_of: date,
    policy: Policy = DEFAULT_POLICY,
    consumer: bool = True,
    indices: IndexBook | None = None,
) -> list[Offer]:
    """Offers for one installment; the debt is updated to the first payment date."""
    first = first_due_date(as_of, policy)
    quote = quote_installment(
        principal=principal,
        due_date=due_date,
        as_of=first,
        policy=policy,
        consumer=consumer,
        indices=indices,
    )
    return build_offers(DebtBase.from_quotes([quote]), policy=policy, as_of=as_of)


def build_offers(debt: DebtBase, *, policy: Policy, as_of: date) -> list[Offer]:
    """À vista plus every parcelado plan from 2 to ``max_installments`` that fits the minimum."""
    count = policy.plans.max_installments
    dates = due_dates(as_of, count, policy)  # each plan's dates are a prefix of the longest's
    offers = []
    for installments in range(1, count + 1):
        offer = _plan(debt, policy, dates[:installments])
        if offer is not None:
            offers.append(offer)
    return offers


def build_plan(debt: DebtBase, *, policy: Policy, as_of: date, installments: int) -> Offer | None:
    """One plan of ``installments`` payments, or None when an amount would be below the minimum."""
    return _plan(debt, policy, due_dates(as_of, installments, policy))


def _plan(debt: DebtBase, policy: Policy, dates: list[date]) -> Offer | None:
    plans = policy.plans
    installments = len(dates)
    discount = plan_discount(debt, policy, installments)
    negotiated = debt.total - discount
    if installments == 1:
        return Offer(
            id="a-vista",
            label=f"À vista: {brl(negotiated)} em {short_date(dates[0])}"
            + (f" (desconto de {brl(discount)})" if discount else ""),
            installments=1,
            down_payment=negotiated,
            installment_amounts=(negotiated,),
            due_dates=tuple(dates),
            interest_percent=ZERO,
            discount=discount,
            total=negotiated,
            basis=(debt, policy),
        )
    rate = (
        plans.interest_monthly_percent if installments > plans.interest_free_installments else ZERO
    )
    amounts, with_down = _schedule(negotiated, installments, rate, plans.down_payment.min_percent)
    if any(amount < plans.min_installment for amount in amounts) or any(a <= 0 for a in amounts):
        return None
    total = sum(amounts, ZERO)
    return Offer(
        id=f"parcelado-{installments}x",
        label=_plan_label(amounts, rate, with_down=with_down),
        installments=installments,
        down_payment=amounts[0],
        installment_amounts=tuple(amounts),
        due_dates=tuple(dates),
        interest_percent=rate,
        discount=discount,
        total=total,
        basis=(debt, policy),
    )


def plan_discount(debt: DebtBase, policy: Policy, installments: int) -> Decimal:
    """Discount of the policy tier: % of the encargos plus % of the updated principal."""
    tier = policy.discount_for(installments)
    if tier is None:
        return ZERO
    raw = (
        debt.charges * tier.charges_percent / _HUNDRED
        + debt.updated_principal * tier.principal_percent / _HUNDRED
    )
    return min(quantize(raw), debt.total)


def schedule(
    amount: Decimal, installments: int, monthly_percent: Decimal, down_min_percent: Decimal
) -> list[Decimal]:
    """The payments of a plan, first = entrada; they add up exactly to the plan total."""
    return _schedule(amount, installments, monthly_percent, down_min_percent)[0]


def _schedule(
    amount: Decimal, installments: int, monthly_percent: Decimal, down_min_percent: Decimal
) -> tuple[list[Decimal], bool]:
    """(payments, whether the first one is a larger entrada)."""
    rate = monthly_percent / _HUNDRED
    with localcontext() as ctx:
        ctx.prec = 50
        if rate:
            # Price "antecipada": n equal payments, the first one today.
            equal = amount * rate / ((1 - (1 + rate) ** -installments) * (1 + rate))
        else:
            equal = amount / installments
        minimum_down = amount * down_min_percent / _HUNDRED
        level = _level(amount, installments, rate, equal)
        if level[0] >= minimum_down:
            return level, False
        down = minimum_down.quantize(CENT, rounding=ROUND_UP)
        rest = amount - down
        if rate:
            # Price "postecipada" on the balance: n − 1 payments, one month apart.
            payment = rest * rate / (1 - (1 + rate) ** -(installments - 1))
        else:
            payment = rest / (installments - 1)
        return [down, *_level(rest, installments - 1, rate, payment)], True


def _level(amount: Decimal, count: int, rate: Decimal, payment: Decimal) -> list[Decimal]:
    if not rate:
        return split_evenly(amount, count)
    rounded = quantize(payment)
    total = quantize(payment * count)
    return [rounded] * (count - 1) + [total - rounded * (count - 1)]


def due_dates(as_of: date, installments: int, policy: Policy = DEFAULT_POLICY) -> list[date]:
    """First on ``as_of + first_due_days`` rolled to a business day; then monthly on that day."""
    first = first_due_date(as_of, policy)
    return [first] + [next_bank_business_day(add_months(first, k)) for k in range(1, installments)]


def add_months(day: date, months: int) -> date:
    """Same day ``months`` later, or that month's last day when it is shorter (31/01 → 28/02)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    last = _calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last))


def required_role(
    policy: Policy, *, discount: Decimal, debt_total: Decimal
) -> Literal["operator", "supervisor", "admin"]:
    """Alçada: the least role that may grant ``discount`` on a debt of ``debt_total`` by hand."""
    if discount <= 0 or debt_total <= 0:
        return "operator"
    share = discount / debt_total * _HUNDRED
    if share <= policy.authority.operator_max_discount_percent:
        return "operator"
    if share <= policy.authority.supervisor_max_discount_percent:
        return "supervisor"
    return "admin"


def _percent_str(value: Decimal) -> str:
    return f"{value:.2f}" if value == value.quantize(CENT) else format(value.normalize(), "f")


def _plan_label(amounts: list[Decimal], rate: Decimal, *, with_down: bool) -> str:
    interest = f"com juros de {percent(rate, 4)} ao mês" if rate else "sem juros"
    level = amounts[1:] if with_down else amounts
    last = f" (última de {brl(level[-1])})" if level[-1] != level[0] else ""
    plan = f"{len(level)}× de {brl(level[0])}{last} {interest}"
    return f"Entrada de {brl(amounts[0])} + {plan}" if with_down else plan


def _explain(
    debt: DebtBase,
    discount: Decimal,
    total: Decimal,
    rate: Decimal,
    policy: Policy,
    installments: int,
) -> tuple[str, ...]:
    lines = [f"Débito atualizado: {brl(debt.total)}."]
    tier = policy.discount_for(installments)
    if discount and tier is not None:
        parts = []
        if tier.charges_percent:
            parts.append(f"{percent(tier.charges_percent, 4)} dos encargos ({brl(debt.charges)})")
        if tier.principal_percent:
            parts.append(
                f"{percent(tier.principal_percent, 4)} do valor atualizado "
                f"({brl(debt.updated_principal)})"
            )
        lines.append(f"Desconto de {' e '.join(parts)}: {brl(discount)}.")
    if rate:
        lines.append(
            f"Juros do parcelamento de {percent(rate, 4)} ao mês (Tabela Price) a partir de "
            f"{policy.plans.interest_free_installments + 1} parcelas."
        )
    lines.append(f"Total do acordo: {brl(total)}.")
    return tuple(lines)
