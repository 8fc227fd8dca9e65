"""Charge terms (pure): properties over random balances, due dates and reading dates."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from adimple.charges.policy import Policy
from adimple.kit.calendar import is_bank_business_day, next_bank_business_day
from adimple.kit.money import quantize
from adimple.payments.billing.terms import charge_terms, document_due_date
from adimple.payments.boleto import decode as decode_boleto
from adimple.payments.boleto import encode as encode_boleto

D = Decimal
POLICIES = st.sampled_from(
    [
        Policy(),
        Policy(business_only=True, fine_percent=D("10")),
        Policy(fine_percent=D("0"), interest={"mode": "none"}, correction={"index": "none"}),
        Policy(grace_days=5),
    ]
)
balances = st.integers(min_value=1, max_value=10_000_000).map(lambda c: D(c) / 100)
# Index data ships up to 2026-09: keep the update dates where every month is known.
due_dates = st.dates(min_value=date(2025, 1, 1), max_value=date(2026, 8, 31))


@settings(max_examples=150, deadline=None)
@given(
    balance=balances,
    due=due_dates,
    lag=st.integers(min_value=-60, max_value=40),
    days_to_pay=st.integers(min_value=1, max_value=10),
    policy=POLICIES,
    consumer=st.booleans(),
)
def test_terms_properties(
    balance: Decimal, due: date, lag: int, days_to_pay: int, policy: Policy, consumer: bool
) -> None:
    as_of = due + timedelta(days=lag)
    new_due = document_due_date(due, as_of, days_to_pay)
    if new_due.month > 9 and new_due.year == 2026:
        return
    terms = charge_terms(
        balance=balance,
        receivable_due=due,
        due_date=new_due,
        policy=policy,
        consumer=consumer,
    )
    if as_of <= next_bank_business_day(due):
        assert not terms.overdue and terms.due_date == due and terms.amount == balance
    else:
        assert terms.overdue and terms.due_date > as_of
        assert is_bank_business_day(terms.due_date)
        assert terms.amount >= balance
        assert terms.amount == terms.quote.total
        assert terms.after_due.fine_percent == 0 or terms.quote.fine == 0
    if consumer:
        assert terms.quote.fine <= quantize(terms.quote.corrected_principal * D("0.02"))
        assert terms.after_due.fine_percent <= 2
    # The boleto of these terms reads back to the same amount and due date.
    if terms.amount <= D("99999999.99"):
        boleto = encode_boleto(
            bank_code="341",
            free_field="1090000000101234123451000",
            amount=terms.amount,
            due_date=terms.due_date,
        )
        read = decode_boleto(boleto.linha_digitavel, as_of=terms.due_date)
        assert read.amount == terms.amount and read.due_date == terms.due_date
