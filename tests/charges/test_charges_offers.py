"""Offers: golden plan of docs/policy.md (Exemplo 10), schedules, minimums and alçadas."""

from __future__ import annotations

from decimal import Decimal

import pytest
from charges_helpers import D, d

from adimple.charges.offers import (
    DebtBase,
    add_months,
    build_offers,
    due_dates,
    offers_for_installment,
    required_role,
    schedule,
)
from adimple.charges.policy import DEFAULT_POLICY, Policy
from adimple.kit.calendar import is_bank_business_day


@pytest.fixture(scope="module")
def golden() -> dict[str, object]:
    # Exemplo 10: R$ 1.000,00 due 10/03/2026, negotiated 15/04/2026, default policy.
    offers = offers_for_installment(
        principal=D("1000"), due_date=d("2026-03-10"), as_of=d("2026-04-15")
    )
    return {o.id: o for o in offers}


def money(*values: str) -> tuple[Decimal, ...]:
    return tuple(D(v) for v in values)


class TestGoldenOffers:
    def test_ids(self, golden: dict[str, object]) -> None:
        assert list(golden) == ["a-vista"] + [f"parcelado-{n}x" for n in range(2, 13)]

    def test_a_vista(self, golden: dict[str, object]) -> None:
        offer = golden["a-vista"]
        assert offer.as_contract() == {  # type: ignore[attr-defined]
            "id": "a-vista",
            "label": "À vista: R$\xa01.016,00 em 15/04/2026 (desconto de R$\xa016,00)",
            "installments": 1,
            "down_payment": "1016.00",
            "installment_amounts": ["1016.00"],
            "due_dates": ["2026-04-15"],
            "interest_percent": "0.00",
            "discount": "16.00",
            "total": "1016.00",
        }

    def test_three_without_interest(self, golden: dict[str, object]) -> None:
        offer = golden["parcelado-3x"]
        assert offer.discount == D("8.00")  # type: ignore[attr-defined]
        assert offer.installment_amounts == money("341.33", "341.33", "341.34")  # type: ignore[attr-defined]
        assert offer.due_dates == (d("2026-04-15"), d("2026-05-15"), d("2026-06-15"))  # type: ignore[attr-defined]

    def test_five_rolls_a_saturday(self, golden: dict[str, object]) -> None:
        offer = golden["parcelado-5x"]
        assert offer.total == D("1032.00")  # type: ignore[attr-defined]
        assert offer.due_dates[-1] == d("2026-08-17")  # type: ignore[attr-defined]  # 15/08 is a Saturday

    def test_seven_with_price_interest(self, golden: dict[str, object]) -> None:
        offer = golden["parcelado-7x"]
        assert offer.interest_percent == D("1")  # type: ignore[attr-defined]
        assert offer.installment_amounts == money(*["151.87"] * 6, "151.84")  # type: ignore[attr-defined]
        assert offer.total == D("1063.06")  # type: ignore[attr-defined]

    def test_eleven_with_down_payment(self, golden: dict[str, object]) -> None:
        offer = golden["parcelado-11x"]
        assert offer.down_payment == D("103.20")  # type: ignore[attr-defined]
        assert offer.installment_amounts == money("103.20", *["98.06"] * 9, "98.11")  # type: ignore[attr-defined]
        assert offer.total == D("1083.85")  # type: ignore[attr-defined]
        assert offer.label == (  # type: ignore[attr-defined]
            "Entrada de R$\xa0103,20 + 10× de R$\xa098,06 (última de R$\xa098,11) "
            "com juros de 1% ao mês"
        )


class TestSchedules:
    def test_interest_free_split(self) -> None:
        assert schedule(D("100.00"), 3, D("0"), D("0")) == list(money("33.33", "33.33", "33.34"))

    def test_down_payment_rounds_up(self) -> None:
        amounts = schedule(D("100.01"), 12, D("0"), D("10"))
        assert amounts[0] == D("10.01")  # 10,001 rounded up: never below the minimum
        assert sum(amounts) == D("100.01")

    def test_minimum_installment_filters_plans(self) -> None:
        policy = Policy(plans={"min_installment": "100.00", "max_installments": 12})
        offers = offers_for_installment(
            principal=D("450"), due_date=d("2026-03-10"), as_of=d("2026-03-10"), policy=policy
        )
        assert [o.installments for o in offers] == [1, 2, 3, 4]
        for offer in offers[1:]:
            assert min(offer.installment_amounts) >= D("100.00")

    def test_a_vista_is_always_offered(self) -> None:
        offers = offers_for_installment(
            principal=D("20"), due_date=d("2026-03-10"), as_of=d("2026-03-10")
        )
        assert [o.id for o in offers] == ["a-vista"]

    def test_first_due_days_and_weekend_as_of(self) -> None:
        policy = Policy(plans={"first_due_days": 3})
        dates = due_dates(d("2026-02-11"), 3, policy)  # +3 = 14/02 (Saturday, Carnaval after)
        assert dates[0] == d("2026-02-18")
        assert all(is_bank_business_day(x) for x in dates)

    @pytest.mark.parametrize(
        ("start", "months", "expected"),
        [
            ("2026-01-31", 1, "2026-02-28"),
            ("2028-01-31", 1, "2028-02-29"),
            ("2026-01-31", 2, "2026-03-31"),
            ("2026-11-15", 2, "2027-01-15"),
        ],
    )
    def test_add_months(self, start: str, months: int, expected: str) -> None:
        assert add_months(d(start), months) == d(expected)

    def test_customer_debt_from_several_quotes(self) -> None:
        debt = DebtBase(
            principal=D("300"),
            correction=D("3"),
            charges=D("12"),
            early_discount=D("0"),
            total=D("315"),
        )
        offers = build_offers(debt, policy=DEFAULT_POLICY, as_of=d("2026-04-15"))
        assert offers[0].discount == D("6.00") and offers[0].total == D("309.00")


class TestAuthority:
    @pytest.mark.parametrize(
        ("discount", "role"),
        [
            ("0", "operator"),
            ("100", "operator"),
            ("100.01", "supervisor"),
            ("300", "supervisor"),
            ("300.01", "admin"),
        ],
    )
    def test_limits(self, discount: str, role: str) -> None:
        assert required_role(DEFAULT_POLICY, discount=D(discount), debt_total=D("1000")) == role
