"""brl's fast path must print exactly what Babel prints for pt-BR reais."""

from __future__ import annotations

import random
from decimal import Decimal

from babel.numbers import format_currency, format_decimal

from adimple.kit.i18n import brl, percent


def test_brl_matches_babel_for_many_values() -> None:
    draw = random.Random(7)
    values = [
        Decimal(text)
        for text in (
            "0", "-0", "0.00", "-0.001", "0.005", "0.015", "0.025", "-12.5", "1E+3", "1e-7",
            "999.995", "999999.999", "1234567.895", "-1234567.89", "100", "12.3456789",
        )
    ]  # fmt: skip
    for _ in range(5000):
        cents = draw.randint(-(10**12), 10**12)
        scale = draw.choice([0, 1, 2, 3, 4, 6])
        values.append(Decimal(cents).scaleb(-scale))
    for value in values:
        assert brl(value) == format_currency(value, "BRL", locale="pt_BR"), value


def test_brl_other_inputs_go_to_babel() -> None:
    assert brl(Decimal("Infinity")) == format_currency(Decimal("Infinity"), "BRL", locale="pt_BR")
    assert brl(Decimal("1234.5")) == "R$\xa01.234,50"


def test_percent_matches_babel_for_many_values() -> None:
    draw = random.Random(11)
    values = [Decimal(t) for t in ("0", "-0", "-0.001", "0.005", "0.015", "2", "12.10", "1E+2")]
    for _ in range(3000):
        values.append(Decimal(draw.randint(-(10**9), 10**9)).scaleb(-draw.choice([0, 1, 2, 4, 6])))
    for value in values:
        for digits in (0, 2, 4):
            pattern = "#,##0." + "#" * digits if digits else "#,##0"
            expected = f"{format_decimal(value, format=pattern, locale='pt_BR')}%"
            assert percent(value, digits) == expected, (value, digits)
