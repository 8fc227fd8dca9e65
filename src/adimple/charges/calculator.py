"""Debt update (atualização do débito) of one installment — pure code, no database, no web.

Given the installment's principal and due date, the payment date (``as_of``), the tenant's policy
and the index series, :func:`quote_installment` returns every component rounded to the centavo
and a pt-BR explanation of each (used by messages, letters and the portal). The rules, with the
hand-computed examples the tests assert, are in ``docs/policy.md``:

1. A due date on a non-business day moves to the next bank business day, and paying on that day
   carries no charges (DESIGN §5; Lei 7.089/1983 forbids charging for it).
2. ``days_late`` = payment date − effective due date in calendar days, when positive. Within the
   policy's tolerance (grace_days) nothing is charged; past it, charges run from the effective
   due date.
3. Correção monetária (CC art. 389 parágrafo único, Lei 14.905/2024): IPCA accumulated over the
   whole calendar months strictly after the due date's month and strictly before the payment
   month, compounded, no pro rata. Deflation months count (the accumulated factor may fall), but a
   negative total is floored at zero: the nominal value is preserved (STJ, REsp 1.361.191/RS).
4. Multa (CDC art. 52 §1 for consumers: ≤ 2%), once, on the corrected installment.
5. Juros de mora, simple, on the corrected installment: contractual ``monthly_percent`` / 30 per
   calendar day late; or the taxa legal (CC art. 406 §§1–3, Lei 14.905/2024; Resolução CMN
   5.171/2024), pro rata die as Σ over each calendar day late of (rate of that day's month ÷ number
   of days in that month), negative months counting as zero.
6. Honorários/despesas only when the policy enables them (the contract provides for them),
   itemised, each rounded.
7. Early payoff of an installment not yet due strips the unaccrued interest (CDC art. 52 §2):
   when the contract rate is known, the installment is brought to present value at that rate
   (Resolução CMN 3.516/2007), compound over 30-day months.
8. Every component is rounded to the centavo ROUND_HALF_UP; later components use the rounded
   corrected principal as their base; the total is the sum of the rounded components.
"""

from __future__ import annotations

import calendar as _calendar
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal, localcontext
from typing import Any

from adimple.charges.indices import (
    IndexBook,
    SeriesName,
    month_key,
    months_between,
    next_month,
    previous_month,
)
from adimple.charges.policy import (
    DEFAULT_POLICY,
    LegalInterest,
    MonthlySimpleInterest,
    Policy,
    validate_for_debtor,
)
from adimple.kit.calendar import next_bank_business_day
from adimple.kit.errors import DomainError
from adimple.kit.i18n import brl, percent, short_date
from adimple.kit.money import ZERO, AmountError, check_positive_amount, money_str, quantize

# Lei 14.905/2024 took effect on 30/08/2024 (art. 5: 60 days after its publication on 01/07/2024);
# the taxa legal of CC art. 406 exists only from that day on.
TAXA_LEGAL_START = date(2024, 8, 30)

_HUNDRED = Decimal(100)
_PRECISION = 50  # significant digits for intermediate products (factors, sums of day rates)


class QuoteError(DomainError):
    """A quote that cannot be computed as asked (HTTP 422, pt-BR message)."""

    status_code = 422
    title = "Cálculo impossível"


@dataclass(frozen=True)
class Explanation:
    """One pt-BR line for a person; ``component`` is the JSON key it explains."""

    component: str
    text: str


@dataclass(frozen=True)
class FeeCharge:
    code: str
    label: str
    amount: Decimal


@dataclass(frozen=True)
class LegalRateDays:
    """Days of one month charged at the taxa legal of that month."""

    month: str
    days: int
    days_in_month: int
    monthly_percent: Decimal  # as published (may be 0); negative values already floored to 0


@dataclass(frozen=True)
class Quote:
    """Atualização de uma parcela: every component already rounded to the centavo."""

    principal: Decimal
    due_date: date
    effective_due_date: date
    as_of: date
    days_late: int
    correction: Decimal
    fine: Decimal
    interest: Decimal
    fees: Decimal
    discount: Decimal
    total: Decimal
    consumer: bool
    correction_months: tuple[str, ...] = ()
    correction_factor: Decimal = Decimal(1)
    interest_rate_percent: Decimal = ZERO  # total simple rate applied over the period, in %
    legal_rate_days: tuple[LegalRateDays, ...] = ()
    fee_items: tuple[FeeCharge, ...] = ()
    explanations: tuple[Explanation, ...] = field(default=(), compare=False)

    @property
    def corrected_principal(self) -> Decimal:
        """Principal + correção: the base of multa, juros and percentage fees."""
        return self.principal + self.correction

    @property
    def charges(self) -> Decimal:
        """Encargos moratórios: multa + juros + honorários/despesas."""
        return self.fine + self.interest + self.fees

    def as_contract(self, *, explain: bool = False) -> dict[str, Any]:
        """The ``adimple debt quote`` JSON (DESIGN §6): money as "0.00", dates ISO."""
        data: dict[str, Any] = {
            "principal": money_str(self.principal),
            "effective_due_date": self.effective_due_date.isoformat(),
            "days_late": self.days_late,
            "correction": money_str(self.correction),
            "fine": money_str(self.fine),
            "interest": money_str(self.interest),
            "fees": money_str(self.fees),
            "discount": money_str(self.discount),
            "total": money_str(self.total),
        }
        if explain:
            data["fee_items"] = [
                {"code": f.code, "label": f.label, "amount": money_str(f.amount)}
                for f in self.fee_items
            ]
            data["explanations"] = [
                {"component": e.component, "text": e.text} for e in self.explanations
            ]
        return data


def quote_installment(
    *,
    principal: Decimal,
    due_date: date,
    as_of: date,
    policy: Policy = DEFAULT_POLICY,
    consumer: bool = True,
    indices: IndexBook | None = None,
    early_payoff_monthly_percent: Decimal | None = None,
) -> Quote:
    """Updates one installment to ``as_of`` under ``policy`` (see the module docstring).

    ``consumer`` applies the CDC (CPF, or a customer flagged consumer). ``indices`` defaults to
    the packaged series. ``early_payoff_monthly_percent`` overrides the policy's contract rate
    for bringing a future installment to present value (CDC art. 52 §2).
    Raises :class:`ConsumerFineCapExceeded`, :class:`MissingIndexMonth` or :class:`QuoteError`.
    """
    validate_for_debtor(policy, consumer)
    try:
        principal = check_positive_amount(Decimal(principal))
    except AmountError as exc:
        raise QuoteError(f"valor principal inválido: {_amount_reason(exc)}") from None
    book = indices if indices is not None else IndexBook.packaged()
    effective = next_bank_business_day(due_date)
    days_late = max(0, (as_of - effective).days)
    lines = [_due_line(principal, due_date, effective)]

    correction = fine = interest = fees = discount = ZERO
    months: tuple[str, ...] = ()
    factor = Decimal(1)
    rate_percent = ZERO
    legal_days: tuple[LegalRateDays, ...] = ()
    fee_items: tuple[FeeCharge, ...] = ()

    if days_late == 0:
        rate = early_payoff_monthly_percent
        if rate is None:
            rate = policy.early_payoff_monthly_percent
        ahead = (due_date - as_of).days
        if rate is not None and rate > 0 and ahead > 0:
            discount = _present_value_discount(principal, Decimal(rate), ahead)
            lines.append(
                Explanation(
                    "discount",
                    f"Pagamento antecipado em {short_date(as_of)}, {ahead} dias antes do "
                    f"vencimento: abatimento dos juros não decorridos à taxa do contrato de "
                    f"{percent(Decimal(rate), 4)} ao mês (CDC art. 52 §2º): {brl(discount)}.",
                )
            )
        else:
            lines.append(
                Explanation(
                    "days_late",
                    f"Pagamento em {short_date(as_of)}, até o vencimento: sem correção, "
                    "multa ou juros.",
                )
            )
    elif days_late <= policy.grace_days:
        lines.append(
            Explanation(
                "days_late",
                f"Pagamento em {short_date(as_of)}, {_days(days_late)} após o vencimento, dentro "
                f"da tolerância de {_days(policy.grace_days)}: sem correção, multa ou juros.",
            )
        )
    else:
        lines.append(
            Explanation(
                "days_late",
                f"Pagamento em {short_date(as_of)}: {_days(days_late)} de atraso desde "
                f"{short_date(effective)}.",
            )
        )
        # 3. Correção monetária.
        if policy.correction.index == "IPCA":
            months, factor = _ipca_factor(book, effective, as_of)
            with localcontext() as ctx:
                ctx.prec = _PRECISION
                correction = quantize(max(ZERO, principal * (factor - 1)))
            lines.append(_correction_line(principal, months, factor, correction))
        else:
            lines.append(
                Explanation("correction", "Sem correção monetária (política do credor): R$ 0,00.")
            )
        base = principal + correction

        # 4. Multa (CDC art. 52 §1 caps it at 2% for consumers; checked above).
        fine = quantize(base * policy.fine_percent / _HUNDRED)
        lines.append(_fine_line(policy.fine_percent, base, fine, consumer))

        # 5. Juros de mora.
        if isinstance(policy.interest, MonthlySimpleInterest):
            monthly = policy.interest.monthly_percent
            with localcontext() as ctx:
                ctx.prec = _PRECISION
                rate_percent = monthly * days_late / 30
                interest = quantize(base * rate_percent / _HUNDRED)
            lines.append(
                Explanation(
                    "interest",
                    f"Juros de mora de {percent(monthly, 4)} ao mês, simples, pro rata die "
                    f"({_days(days_late)} × {percent(monthly, 4)} ÷ 30 = "
                    f"{percent(rate_percent, 6)}) sobre {brl(base)}: {brl(interest)}.",
                )
            )
        elif isinstance(policy.interest, LegalInterest):
            legal_days, rate_percent = _legal_rate(book, effective, as_of)
            with localcontext() as ctx:
                ctx.prec = _PRECISION
                interest = quantize(base * rate_percent / _HUNDRED)
            lines.append(_legal_line(legal_days, rate_percent, base, interest))
        else:
            lines.append(Explanation("interest", "Sem juros de mora (política do credor)."))

        # 6. Honorários e despesas: only when the contract provides for them, itemised.
        if policy.fees.enabled and policy.fees.items:
            charged = []
            for item in policy.fees.items:
                if item.kind == "fixed":
                    amount = quantize(item.value)
                    text = f"{item.label} (previsto em contrato): {brl(amount)}."
                else:
                    amount = quantize(base * item.value / _HUNDRED)
                    text = (
                        f"{item.label} de {percent(item.value, 4)} sobre {brl(base)} "
                        f"(previsto em contrato): {brl(amount)}."
                    )
                charged.append(FeeCharge(item.code, item.label, amount))
                lines.append(Explanation("fees", text))
            fee_items = tuple(charged)
            fees = sum((f.amount for f in fee_items), ZERO)

    total = principal + correction + fine + interest + fees - discount
    lines.append(Explanation("total", f"Total a pagar em {short_date(as_of)}: {brl(total)}."))
    return Quote(
        principal=principal,
        due_date=due_date,
        effective_due_date=effective,
        as_of=as_of,
        days_late=days_late,
        correction=correction,
        fine=fine,
        interest=interest,
        fees=fees,
        discount=discount,
        total=total,
        consumer=consumer,
        correction_months=months,
        correction_factor=factor,
        interest_rate_percent=rate_percent,
        legal_rate_days=legal_days,
        fee_items=fee_items,
        explanations=tuple(lines),
    )


def correction_months(effective_due: date, as_of: date) -> list[str]:
    """Whole calendar months strictly after the due month and strictly before the payment month.

    Due 15/01, paid 10/04 → February and March. No pro rata for the partial months at either end:
    IPCA is published per calendar month, and the month of payment is usually not published yet.
    """
    first = next_month(month_key(effective_due))
    last = previous_month(month_key(as_of))
    return list(months_between(first, last)) if first <= last else []


def _ipca_factor(book: IndexBook, effective: date, as_of: date) -> tuple[tuple[str, ...], Decimal]:
    months = correction_months(effective, as_of)
    series = book.get(SeriesName.IPCA)
    factor = Decimal(1)
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        for month in months:
            factor *= 1 + series.percent(month) / _HUNDRED  # MissingIndexMonth names the month
    return tuple(months), factor


def _legal_rate(
    book: IndexBook, effective: date, as_of: date
) -> tuple[tuple[LegalRateDays, ...], Decimal]:
    """Σ over each calendar day late (effective+1 … as_of) of rate(month) ÷ days in that month.

    Resolução CMN 5.171/2024: the taxa legal is monthly and, for a fraction of a month, applied
    pro rata by the calendar days of that month; CC art. 406 §3: a negative rate counts as zero.
    """
    first_day = effective + timedelta(days=1)
    if first_day < TAXA_LEGAL_START:
        raise QuoteError(
            f"a taxa legal (CC art. 406, Lei 14.905/2024) só existe a partir de "
            f"{short_date(TAXA_LEGAL_START)}; o atraso começa em {short_date(first_day)}: use "
            "juros contratuais para o período anterior"
        )
    series = book.get(SeriesName.TAXA_LEGAL)
    per_month: dict[str, int] = {}
    day = first_day
    while day <= as_of:
        per_month[month_key(day)] = per_month.get(month_key(day), 0) + 1
        day += timedelta(days=1)
    parts = []
    total = Decimal(0)
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        for month, days in per_month.items():
            published = series.percent(month)  # MissingIndexMonth names the month
            rate = max(Decimal(0), published)
            length = _calendar.monthrange(int(month[:4]), int(month[5:]))[1]
            total += rate * days / length
            parts.append(LegalRateDays(month, days, length, rate))
    return tuple(parts), total


def _present_value_discount(principal: Decimal, monthly_percent: Decimal, days: int) -> Decimal:
    """Principal − principal / (1 + i)^(days/30): the interest not yet accrued (art. 52 §2)."""
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        growth = (1 + monthly_percent / _HUNDRED) ** (Decimal(days) / 30)
        return quantize(principal - principal / growth)


def _days(count: int) -> str:
    return "1 dia" if count == 1 else f"{count} dias"


def _amount_reason(exc: AmountError) -> str:
    text = str(exc)
    return {
        "must be greater than zero": "deve ser maior que zero",
        "must have at most 2 decimal places": "no máximo 2 casas decimais",
    }.get(text, text)


def _month_label(month: str) -> str:
    return f"{month[5:]}/{month[:4]}"


def _due_line(principal: Decimal, due: date, effective: date) -> Explanation:
    if effective == due:
        return Explanation(
            "effective_due_date",
            f"Parcela de {brl(principal)} com vencimento em {short_date(due)}.",
        )
    return Explanation(
        "effective_due_date",
        f"Parcela de {brl(principal)} com vencimento em {short_date(due)}, dia sem expediente "
        f"bancário: o vencimento passa para {short_date(effective)}, o próximo dia útil, "
        "sem encargos até essa data.",
    )


def _correction_line(
    principal: Decimal, months: tuple[str, ...], factor: Decimal, correction: Decimal
) -> Explanation:
    if not months:
        return Explanation(
            "correction",
            "Correção monetária pelo IPCA: nenhum mês completo entre o mês do vencimento e o do "
            "pagamento (sem pro rata): R$ 0,00.",
        )
    span = (
        _month_label(months[0])
        if len(months) == 1
        else f"{_month_label(months[0])} a {_month_label(months[-1])}"
    )
    variation = (factor - 1) * _HUNDRED
    text = (
        f"Correção monetária pelo IPCA de {span} (variação acumulada de "
        f"{percent(variation, 4)}; CC art. 389) sobre {brl(principal)}: {brl(correction)}."
    )
    if variation < 0:
        text = (
            f"Correção monetária pelo IPCA de {span}: variação acumulada negativa "
            f"({percent(variation, 4)}); o valor nominal é preservado, correção de R$ 0,00 "
            "(STJ, REsp 1.361.191/RS)."
        )
    return Explanation("correction", text)


def _fine_line(fine_percent: Decimal, base: Decimal, fine: Decimal, consumer: bool) -> Explanation:
    law = "CDC art. 52 §1º" if consumer else "CC art. 408 e 412"
    return Explanation(
        "fine", f"Multa de {percent(fine_percent, 4)} ({law}) sobre {brl(base)}: {brl(fine)}."
    )


def _legal_line(
    parts: tuple[LegalRateDays, ...], rate_percent: Decimal, base: Decimal, interest: Decimal
) -> Explanation:
    terms = " + ".join(
        f"{_days(p.days)} de {_month_label(p.month)} × {percent(p.monthly_percent, 6)} ÷ "
        f"{p.days_in_month}"
        for p in parts
    )
    return Explanation(
        "interest",
        f"Juros de mora pela taxa legal (CC art. 406, Lei 14.905/2024), simples, pro rata die: "
        f"{terms} = {percent(rate_percent, 6)} sobre {brl(base)}: {brl(interest)}.",
    )


def _fallback_policies(policy: Policy) -> tuple[Policy, ...]:
    # Policies are immutable and the service hands out one object per version, so the two
    # copies are made once per policy object, not on every quote of a month not yet published.
    cached = _fallbacks.get(id(policy))
    if cached is not None and cached[0] is policy:
        return cached[1]
    from adimple.charges.policy import CorrectionRule, NoInterest

    no_correction = policy.model_copy(update={"correction": CorrectionRule(index="none")})
    no_index = no_correction.model_copy(update={"interest": NoInterest()})
    if len(_fallbacks) > 1_000:
        _fallbacks.clear()
    _fallbacks[id(policy)] = (policy, (no_correction, no_index))
    return no_correction, no_index


# id(policy) → (the policy itself, kept so that its id is not reused, and its fallbacks).
_fallbacks: dict[int, tuple[Policy, tuple[Policy, ...]]] = {}


def quote_with_fallback(
    principal: Decimal,
    due: date,
    as_of: date,
    consumer: bool,
    policy: Policy,
    book: IndexBook | None,
) -> tuple[Quote | None, bool]:
    """The update under ``policy``; on a missing index month (IPCA is published ~10 days into
    the next month, the taxa legal later still) the same without correção, then without juros
    either — both in the debtor's favour; None = the balance only. The flag says a fallback
    was used: callers show "valor sujeito a atualização"."""
    for number, attempt in enumerate([policy, *_fallback_policies(policy)]):
        try:
            quote = quote_installment(
                principal=principal,
                due_date=due,
                as_of=as_of,
                policy=attempt,
                consumer=consumer,
                indices=book,
            )
        except DomainError:
            continue
        return quote, number > 0
    return None, True


def quote_or_explain(
    principal: Decimal,
    due: date,
    as_of: date,
    consumer: bool,
    policy: Policy,
    book: IndexBook | None,
) -> tuple[Quote, bool]:
    """:func:`quote_with_fallback` for pages and offers that must show a figure: when not even
    the balance-only update works, the strict calculation runs again to raise its reason."""
    quote, pending = quote_with_fallback(principal, due, as_of, consumer, policy, book)
    if quote is None:
        quote = quote_installment(
            principal=principal,
            due_date=due,
            as_of=as_of,
            policy=policy,
            consumer=consumer,
            indices=book,
        )
    return quote, pending
