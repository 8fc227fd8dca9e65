"""Properties (hypothesis) of the debt update and of the plans."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from charges_helpers import synthetic_book
from hypothesis import given, settings
from hypothesis import strategies as st

from adimple.charges.calculator import quote_installment
from adimple.charges.indices import SeriesName, months_between
from adimple.charges.offers import offers_for_installment
from adimple.charges.policy import Policy
from adimple.kit.calendar import is_bank_business_day

# Rates that go up and down (deflation, negative taxa legal) and non-negative ones.
_MONTHS = list(months_between("2024-01", "2034-12"))
MIXED_BOOK = synthetic_book(
    first="2024-01",
    last="2034-12",
    overrides={
        SeriesName.IPCA: {m: str(Decimal((i * 37) % 23 - 8) / 10) for i, m in enumerate(_MONTHS)},
        SeriesName.TAXA_LEGAL: {
            m: str(Decimal((i * 53) % 29 - 5) / 10) for i, m in enumerate(_MONTHS)
        },
    },
)
POSITIVE_BOOK = synthetic_book(
    first="2024-01",
    last="2034-12",
    overrides={
        SeriesName.IPCA: {m: str(Decimal((i * 37) % 23) / 10) for i, m in enumerate(_MONTHS)},
        SeriesName.TAXA_LEGAL: {m: str(Decimal((i * 53) % 29) / 20) for i, m in enumerate(_MONTHS)},
    },
)

principals = st.decimals(
    min_value=Decimal("0.01"), max_value=Decimal("10000000"), places=2, allow_nan=False
)
# From late 2025 so that due − 400 days is still after 30/08/2024 (taxa legal start).
dates = st.dates(min_value=date(2025, 10, 10), max_value=date(2032, 6, 30))
interest_rules = st.one_of(
    st.builds(
        lambda p: {"mode": "monthly_simple", "monthly_percent": p},
        st.decimals(min_value=0, max_value=10, places=4),
    ),
    st.just({"mode": "legal"}),
    st.just({"mode": "none"}),
)
policies = st.builds(
    lambda fine, interest, index, grace, early, fee: Policy(
        fine_percent=fine,
        interest=interest,
        correction={"index": index},
        grace_days=grace,
        early_payoff_monthly_percent=early,
        fees={
            "enabled": fee is not None,
            "items": [{"code": "h", "label": "Honorários", "kind": "percent", "value": fee or 0}],
        },
    ),
    st.decimals(min_value=0, max_value=2, places=2),
    interest_rules,
    st.sampled_from(["IPCA", "none"]),
    st.integers(min_value=0, max_value=10),
    st.one_of(st.none(), st.decimals(min_value=0, max_value=5, places=2)),
    st.one_of(st.none(), st.decimals(min_value=0, max_value=20, places=2)),
)


@settings(max_examples=400, deadline=None)
@given(principal=principals, due=dates, as_of=dates, policy=policies)
def test_total_is_never_negative_and_adds_up(
    principal: Decimal, due: date, as_of: date, policy: Policy
) -> None:
    q = quote_installment(
        principal=principal, due_date=due, as_of=as_of, policy=policy, indices=MIXED_BOOK
    )
    assert q.total >= 0
    assert min(q.correction, q.fine, q.interest, q.fees, q.discount) >= 0
    assert q.total == q.principal + q.correction + q.fine + q.interest + q.fees - q.discount
    assert q.days_late == max(0, (as_of - q.effective_due_date).days)
    assert q.effective_due_date >= due and is_bank_business_day(q.effective_due_date)


@settings(max_examples=400, deadline=None)
@given(
    principal=principals,
    due=dates,
    as_of=dates,
    extra=st.integers(min_value=0, max_value=400),
    policy=policies,
)
def test_a_later_payment_never_costs_less(
    principal: Decimal, due: date, as_of: date, extra: int, policy: Policy
) -> None:
    """With non-negative correction and interest rates, the total never falls over time."""
    earlier = quote_installment(
        principal=principal, due_date=due, as_of=as_of, policy=policy, indices=POSITIVE_BOOK
    )
    later = quote_installment(
        principal=principal,
        due_date=due,
        as_of=as_of + timedelta(days=extra),
        policy=policy,
        indices=POSITIVE_BOOK,
    )
    assert later.total >= earlier.total


@settings(max_examples=400, deadline=None)
@given(
    principal=principals,
    due=dates,
    as_of=dates,
    earlier_by=st.integers(min_value=0, max_value=400),
    policy=policies,
)
def test_monotonic_in_days_late(
    principal: Decimal, due: date, as_of: date, earlier_by: int, policy: Policy
) -> None:
    """An older debt (more days late on the same payment date) never costs less."""
    newer = quote_installment(
        principal=principal, due_date=due, as_of=as_of, policy=policy, indices=POSITIVE_BOOK
    )
    older = quote_installment(
        principal=principal,
        due_date=due - timedelta(days=earlier_by),
        as_of=as_of,
        policy=policy,
        indices=POSITIVE_BOOK,
    )
    assert older.days_late >= newer.days_late
    assert older.total >= newer.total


plan_policies = st.builds(
    lambda max_n, minimum, down, rate, free, charges, principal_pct, first: Policy(
        plans={
            "max_installments": max_n,
            "min_installment": minimum,
            "down_payment": {"min_percent": down},
            "interest_monthly_percent": rate,
            "interest_free_installments": free,
            "first_due_days": first,
        },
        discounts=[
            {"max_installments": 1, "charges_percent": charges, "principal_percent": principal_pct}
        ],
    ),
    st.integers(min_value=1, max_value=48),
    st.decimals(min_value=0, max_value=500, places=2),
    st.decimals(min_value=0, max_value=60, places=2),
    st.decimals(min_value=0, max_value=5, places=2),
    st.integers(min_value=1, max_value=48),
    st.decimals(min_value=0, max_value=100, places=2),
    st.decimals(min_value=0, max_value=100, places=2),
    st.integers(min_value=0, max_value=30),
)


@settings(max_examples=400, deadline=None)
@given(principal=principals, due=dates, as_of=dates, policy=plan_policies)
def test_plans_add_up_exactly(principal: Decimal, due: date, as_of: date, policy: Policy) -> None:
    offers = offers_for_installment(
        principal=principal, due_date=due, as_of=as_of, policy=policy, indices=POSITIVE_BOOK
    )
    assert offers and offers[0].id == "a-vista"
    for offer in offers:
        assert sum(offer.installment_amounts) == offer.total
        assert len(offer.installment_amounts) == len(offer.due_dates) == offer.installments
        assert offer.down_payment == offer.installment_amounts[0]
        assert offer.total >= 0 and offer.discount >= 0
        assert all(a == a.quantize(Decimal("0.01")) for a in offer.installment_amounts)
        assert all(is_bank_business_day(x) for x in offer.due_dates)
        assert list(offer.due_dates) == sorted(set(offer.due_dates))
        if offer.installments > 1:
            assert min(offer.installment_amounts) >= policy.plans.min_installment
            assert offer.installments <= policy.plans.max_installments
