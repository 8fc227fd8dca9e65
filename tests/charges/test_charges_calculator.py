"""Golden cases of the debt update, computed by hand in docs/policy.md (section "Exemplos")."""

from __future__ import annotations

from decimal import Decimal

import pytest
from charges_helpers import D, d, synthetic_book

from adimple.charges.calculator import QuoteError, correction_months, quote_installment
from adimple.charges.indices import IndexBook, MissingIndexMonth, SeriesName
from adimple.charges.policy import (
    ConsumerFineCapExceeded,
    FeeItem,
    FeesRule,
    LegalInterest,
    NoInterest,
    Policy,
)

LEGAL = Policy(interest=LegalInterest())


def same(a: Decimal, b: Decimal) -> bool:
    """Equal to 25 decimal places (the rates are repeating decimals)."""
    return abs(a - b) < D("1e-25")


def amounts(quote: object) -> tuple[Decimal, ...]:
    q = quote
    return (q.correction, q.fine, q.interest, q.fees, q.discount, q.total)  # type: ignore[attr-defined]


class TestDueDateOnNonBusinessDay:
    def test_saturday_moves_to_monday_and_paying_then_costs_nothing(self) -> None:
        # Exemplo 1: 14/03/2026 is a Saturday.
        q = quote_installment(principal=D("100"), due_date=d("2026-03-14"), as_of=d("2026-03-16"))
        assert q.effective_due_date == d("2026-03-16")
        assert q.days_late == 0
        assert amounts(q) == (0, 0, 0, 0, 0, D("100.00"))

    def test_saturday_before_carnaval_moves_to_ash_wednesday(self) -> None:
        # Exemplo 2: 14/02/2026 Saturday; 16 and 17/02 are Carnaval (banks closed).
        q = quote_installment(principal=D("100"), due_date=d("2026-02-14"), as_of=d("2026-02-18"))
        assert q.effective_due_date == d("2026-02-18")
        assert q.days_late == 0
        assert q.total == D("100.00")

    def test_one_day_after_carnaval(self) -> None:
        q = quote_installment(principal=D("100"), due_date=d("2026-02-14"), as_of=d("2026-02-19"))
        assert q.days_late == 1
        assert amounts(q) == (D("0.00"), D("2.00"), D("0.03"), 0, 0, D("102.03"))

    def test_paid_on_the_carnaval_monday_is_not_late(self) -> None:
        q = quote_installment(principal=D("100"), due_date=d("2026-02-14"), as_of=d("2026-02-16"))
        assert q.days_late == 0 and q.total == D("100.00")

    def test_holiday_tiradentes(self) -> None:
        # Exemplo 3: 21/04/2026 (Tiradentes) → 22/04; paid 22/05: 30 days, no whole month between.
        q = quote_installment(principal=D("1000"), due_date=d("2026-04-21"), as_of=d("2026-05-22"))
        assert q.effective_due_date == d("2026-04-22")
        assert q.days_late == 30
        assert amounts(q) == (D("0.00"), D("20.00"), D("10.00"), 0, 0, D("1030.00"))

    def test_days_late_count_from_the_effective_due_date(self) -> None:
        saturday = quote_installment(
            principal=D("1000"), due_date=d("2026-03-14"), as_of=d("2026-03-20")
        )
        assert saturday.days_late == 4  # 16/03 → 20/03


class TestCorrectionAndMonthBoundaries:
    def test_ipca_two_whole_months(self) -> None:
        # Exemplo 4: due 15/01/2026, paid 10/04/2026: IPCA of 02/2026 (0,70) and 03/2026 (0,88).
        q = quote_installment(principal=D("100"), due_date=d("2026-01-15"), as_of=d("2026-04-10"))
        assert q.correction_months == ("2026-02", "2026-03")
        assert q.correction_factor == D("1.007") * D("1.0088")
        assert q.days_late == 85
        assert amounts(q) == (D("1.59"), D("2.03"), D("2.88"), 0, 0, D("106.50"))
        assert q.total == q.principal + q.correction + q.fine + q.interest

    def test_month_boundaries_without_a_whole_month(self) -> None:
        assert correction_months(d("2026-01-31"), d("2026-02-01")) == []
        assert correction_months(d("2026-01-31"), d("2026-03-01")) == ["2026-02"]
        assert correction_months(d("2026-01-01"), d("2026-02-28")) == []
        assert correction_months(d("2025-12-31"), d("2026-02-01")) == ["2026-01"]
        assert correction_months(d("2026-03-10"), d("2026-03-01")) == []

    def test_deflation_is_floored_at_zero(self) -> None:
        # Exemplo 8: 08/2025 IPCA −0,11: accumulated factor < 1, correction stays 0.
        q = quote_installment(principal=D("100"), due_date=d("2025-07-10"), as_of=d("2025-09-15"))
        assert q.correction_months == ("2025-08",)
        assert q.correction_factor == D("0.9989")
        assert q.days_late == 67
        assert amounts(q) == (D("0.00"), D("2.00"), D("2.23"), 0, 0, D("104.23"))
        assert "valor nominal é preservado" in " ".join(e.text for e in q.explanations)

    def test_deflation_months_count_inside_the_product(self) -> None:
        # 07/2026 0,07 and 08/2026 −0,32 and 09/2026 0,82 (due 15/06, paid 05/10).
        q = quote_installment(principal=D("1000"), due_date=d("2026-06-15"), as_of=d("2026-10-05"))
        assert q.correction_factor == D("1.0007") * D("0.9968") * D("1.0082")
        assert q.correction == D("5.68")  # 1000 × (1,0056772416 − 1) = 5,677…

    def test_missing_month_names_the_month(self) -> None:
        with pytest.raises(MissingIndexMonth) as info:
            quote_installment(principal=D("100"), due_date=d("2026-01-15"), as_of=d("2026-11-22"))
        assert info.value.month == "2026-10"
        assert "2026-10" in info.value.detail

    def test_no_correction_policy(self) -> None:
        policy = Policy(correction={"index": "none"})
        q = quote_installment(
            principal=D("100"), due_date=d("2026-01-15"), as_of=d("2026-11-22"), policy=policy
        )
        assert q.correction == 0 and q.days_late == 311


class TestLeapYears:
    def test_february_29_counts_as_a_day(self) -> None:
        # Exemplo 5a: due 28/02/2024, paid 01/03/2024: 29/02 and 01/03.
        q = quote_installment(principal=D("300"), due_date=d("2024-02-28"), as_of=d("2024-03-01"))
        assert q.days_late == 2
        assert amounts(q) == (0, D("6.00"), D("0.20"), 0, 0, D("306.20"))

    def test_leap_february_with_ipca(self) -> None:
        # Exemplo 5b: due 31/01/2024, paid 01/03/2024: 30 days; IPCA 02/2024 = 0,83.
        q = quote_installment(principal=D("300"), due_date=d("2024-01-31"), as_of=d("2024-03-01"))
        assert q.days_late == 30
        assert amounts(q) == (D("2.49"), D("6.05"), D("3.02"), 0, 0, D("311.56"))

    def test_taxa_legal_divides_by_29_in_a_leap_february(self) -> None:
        book = synthetic_book(taxa_legal="2.9", ipca="0")
        q = quote_installment(
            principal=D("1000"),
            due_date=d("2028-02-25"),  # Friday
            as_of=d("2028-03-01"),
            policy=LEGAL,
            indices=book,
        )
        # 26, 27, 28, 29/02 at 2,9%/29 = 0,1%/day + 01/03 at 2,9%/31.
        assert [(p.month, p.days, p.days_in_month) for p in q.legal_rate_days] == [
            ("2028-02", 4, 29),
            ("2028-03", 1, 31),
        ]
        assert same(q.interest_rate_percent, D("0.4") + D("2.9") / 31)
        assert q.interest == D("4.94")  # 1000 × 0,493548…%


class TestTaxaLegal:
    def test_across_two_months(self) -> None:
        # Exemplo 7: due 31/08/2026, paid 05/10/2026.
        q = quote_installment(
            principal=D("1000"), due_date=d("2026-08-31"), as_of=d("2026-10-05"), policy=LEGAL
        )
        assert q.days_late == 35
        assert same(q.interest_rate_percent, D("1.499119") + D("0.379020") * 5 / 31)
        assert amounts(q) == (D("8.20"), D("20.16"), D("15.73"), 0, 0, D("1044.09"))

    def test_published_zero_month(self) -> None:
        # Exemplo 6: 03/2025 taxa legal = 0,000000 (floor); due 28/02/2025, paid 10/04/2025.
        q = quote_installment(
            principal=D("1000"), due_date=d("2025-02-28"), as_of=d("2025-04-10"), policy=LEGAL
        )
        assert q.days_late == 41
        assert [(p.month, p.days, p.monthly_percent) for p in q.legal_rate_days] == [
            ("2025-03", 31, D("0.000000")),
            ("2025-04", 10, D("0.321969")),
        ]
        assert amounts(q) == (D("5.60"), D("20.11"), D("1.08"), 0, 0, D("1026.79"))

    def test_negative_month_counts_as_zero(self) -> None:
        book = synthetic_book(
            ipca="0",
            taxa_legal="1.2",
            overrides={SeriesName.TAXA_LEGAL: {"2026-01": "-0.30"}},
        )
        q = quote_installment(
            principal=D("1000"),
            due_date=d("2025-12-31"),
            as_of=d("2026-02-15"),
            policy=LEGAL,
            indices=book,
        )
        # January (31 days) at max(0, −0,30) = 0; 15 days of February at 1,2%/28.
        assert same(q.interest_rate_percent, D("1.2") * 15 / 28)
        assert q.interest == D("6.43")  # 1000 × 0,642857…%

    def test_taxa_legal_missing_month(self) -> None:
        with pytest.raises(MissingIndexMonth) as info:
            quote_installment(
                principal=D("1000"),
                due_date=d("2026-10-15"),
                as_of=d("2026-11-03"),
                policy=Policy(interest=LegalInterest(), correction={"index": "none"}),
            )
        assert info.value.month == "2026-11"

    def test_before_lei_14905_is_refused(self) -> None:
        with pytest.raises(QuoteError, match="30/08/2024"):
            quote_installment(
                principal=D("1000"), due_date=d("2024-08-01"), as_of=d("2024-09-10"), policy=LEGAL
            )

    def test_starts_on_30_august_2024(self) -> None:
        q = quote_installment(
            principal=D("1000"),
            due_date=d("2024-08-29"),
            as_of=d("2024-09-01"),
            policy=LEGAL,
        )
        assert [(p.month, p.days) for p in q.legal_rate_days] == [("2024-08", 2), ("2024-09", 1)]


class TestFine:
    def test_consumer_cap_is_enforced(self) -> None:
        policy = Policy(fine_percent=D("10"), business_only=True)
        with pytest.raises(ConsumerFineCapExceeded) as info:
            quote_installment(
                principal=D("100"), due_date=d("2026-01-15"), as_of=d("2026-02-10"), policy=policy
            )
        assert "CDC art. 52 §1º" in info.value.detail
        assert "10%" in info.value.detail

    def test_business_debtor_may_have_a_larger_fine(self) -> None:
        policy = Policy(fine_percent=D("10"), business_only=True, interest=NoInterest())
        q = quote_installment(
            principal=D("100"),
            due_date=d("2026-01-15"),
            as_of=d("2026-02-10"),
            policy=policy,
            consumer=False,
        )
        assert q.fine == D("10.00") and q.total == D("110.00")
        assert "CC art. 408" in q.explanations[2].text or any(
            "Multa de 10%" in e.text for e in q.explanations
        )

    def test_fine_explanation_in_portuguese(self) -> None:
        q = quote_installment(principal=D("100"), due_date=d("2026-02-14"), as_of=d("2026-02-19"))
        texts = [e.text for e in q.explanations if e.component == "fine"]
        assert texts == ["Multa de 2% (CDC art. 52 §1º) sobre R$\xa0100,00: R$\xa02,00."]


class TestGraceAndFees:
    def test_within_grace_nothing_is_charged(self) -> None:
        policy = Policy(grace_days=5)
        q = quote_installment(
            principal=D("100"), due_date=d("2026-03-02"), as_of=d("2026-03-07"), policy=policy
        )
        assert q.days_late == 5 and q.total == D("100.00")

    def test_past_grace_charges_from_the_due_date(self) -> None:
        policy = Policy(grace_days=5)
        q = quote_installment(
            principal=D("100"), due_date=d("2026-03-02"), as_of=d("2026-03-08"), policy=policy
        )
        assert q.days_late == 6
        assert amounts(q) == (0, D("2.00"), D("0.20"), 0, 0, D("102.20"))

    def test_fees_only_when_enabled_and_itemised(self) -> None:
        items = [
            FeeItem(code="honorarios", label="Honorários", kind="percent", value=D("10")),
            FeeItem(code="carta", label="Carta de cobrança", kind="fixed", value=D("4.50")),
        ]
        off = Policy(fees=FeesRule(enabled=False, items=items))
        on = Policy(fees=FeesRule(enabled=True, items=items))
        args = {"principal": D("100"), "due_date": d("2026-02-14"), "as_of": d("2026-02-19")}
        assert quote_installment(**args, policy=off).fees == 0  # type: ignore[arg-type]
        q = quote_installment(**args, policy=on)  # type: ignore[arg-type]
        assert [(f.code, f.amount) for f in q.fee_items] == [
            ("honorarios", D("10.00")),
            ("carta", D("4.50")),
        ]
        assert q.fees == D("14.50") and q.total == D("116.53")


class TestEarlyPayoff:
    def test_present_value_at_the_contract_rate(self) -> None:
        # Exemplo 9: 30 days before the due date at 2% a.m.: 100 / 1,02 = 98,039… → 98,04.
        q = quote_installment(
            principal=D("100"),
            due_date=d("2026-12-10"),
            as_of=d("2026-11-10"),
            early_payoff_monthly_percent=D("2"),
        )
        assert q.discount == D("1.96") and q.total == D("98.04")
        assert any("CDC art. 52 §2º" in e.text for e in q.explanations)

    def test_policy_rate_is_used_when_not_given(self) -> None:
        policy = Policy(early_payoff_monthly_percent=D("1"))
        q = quote_installment(
            principal=D("1000"), due_date=d("2026-12-10"), as_of=d("2026-09-11"), policy=policy
        )
        # 90 days = 3 months: 1000 / 1,01³ = 970,590… → discount 29,41.
        assert q.discount == D("29.41")

    def test_no_rate_no_discount(self) -> None:
        q = quote_installment(principal=D("100"), due_date=d("2026-12-10"), as_of=d("2026-11-10"))
        assert q.discount == 0 and q.total == D("100.00")


class TestInputs:
    @pytest.mark.parametrize("value", ["0", "-1", "1.001"])
    def test_bad_principal(self, value: str) -> None:
        with pytest.raises(QuoteError):
            quote_installment(principal=D(value), due_date=d("2026-01-15"), as_of=d("2026-02-10"))

    def test_total_is_the_sum_of_rounded_components(self) -> None:
        q = quote_installment(
            principal=D("333.33"), due_date=d("2026-01-15"), as_of=d("2026-04-10")
        )
        assert q.total == q.principal + q.correction + q.fine + q.interest + q.fees - q.discount
        for value in amounts(q):
            assert value == value.quantize(D("0.01"))

    def test_every_component_is_explained(self) -> None:
        q = quote_installment(
            principal=D("100"),
            due_date=d("2026-01-15"),
            as_of=d("2026-04-10"),
            indices=IndexBook.packaged(),
        )
        components = [e.component for e in q.explanations]
        for key in ("effective_due_date", "days_late", "correction", "fine", "interest", "total"):
            assert key in components
