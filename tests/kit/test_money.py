from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adimple.kit.i18n import brl, short_date
from adimple.kit.money import (
    AmountError,
    check_positive_amount,
    from_cents,
    money_str,
    parse_amount,
    quantize,
    split_evenly,
    to_cents,
)

cents = st.integers(min_value=0, max_value=10**13)


class TestParseAmount:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("1234.56", "1234.56"),
            ("1.234,56", "1234.56"),
            ("1,234.56", "1234.56"),
            ("R$ 10,50", "10.50"),
            ("0,5", "0.5"),
            ("100", "100"),
        ],
    )
    def test_reads_brazilian_and_international_forms(self, text: str, expected: str) -> None:
        assert parse_amount(text) == Decimal(expected)

    @pytest.mark.parametrize("text", ["", "abc", "1,2,3,4", "12a", "--1"])
    def test_rejects_what_is_not_an_amount(self, text: str) -> None:
        with pytest.raises(AmountError):
            parse_amount(text)

    def test_explicit_separator_wins(self) -> None:
        assert parse_amount("1.234", decimal_separator=",") == Decimal("1234")


class TestCents:
    @given(cents)
    def test_round_trip(self, value: int) -> None:
        assert to_cents(from_cents(value)) == value

    def test_refuses_fractions_of_a_centavo(self) -> None:
        with pytest.raises(AmountError):
            to_cents(Decimal("1.005"))

    def test_half_up(self) -> None:
        assert quantize(Decimal("0.005")) == Decimal("0.01")
        assert quantize(Decimal("2.675")) == Decimal("2.68")
        assert money_str(Decimal("3")) == "3.00"

    @pytest.mark.parametrize("value", ["0", "-1", "1.234"])
    def test_positive_amount_rule(self, value: str) -> None:
        with pytest.raises(AmountError):
            check_positive_amount(Decimal(value))


@given(cents.filter(lambda c: c > 0), st.integers(min_value=1, max_value=120))
def test_split_evenly_adds_up_exactly(total_cents: int, parts: int) -> None:
    total = from_cents(total_cents)
    pieces = split_evenly(total, parts)
    assert sum(pieces) == total
    assert len(pieces) == parts
    assert all(p == pieces[0] for p in pieces[:-1])
    assert pieces[-1] >= pieces[0]


def test_pt_br_formatting() -> None:
    from datetime import date

    assert brl(Decimal("1234.56")) == "R$\xa01.234,56"
    assert short_date(date(2026, 11, 22)) == "22/11/2026"
