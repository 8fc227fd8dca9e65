"""What people read is pt-BR, formatted with Babel (``R$ 1.234,56``, ``22/11/2026``)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache

from babel.dates import format_date, format_datetime
from babel.numbers import format_currency, format_decimal

LOCALE = "pt_BR"
_CENT = Decimal("0.01")


def brl(value: Decimal) -> str:
    """``R$ 1.234,56`` (Babel puts a no-break space after the symbol; we keep it).

    A finite Decimal is formatted here exactly as Babel's ``format_currency(value, "BRL",
    locale="pt_BR")`` does (sign of a negative zero kept, half-even rounding to centavos,
    ``.`` thousands, ``,`` decimals): a portal page formats ~100 amounts and Babel's generic
    pattern machinery was a quarter of its time. tests/kit/test_i18n.py compares the two.
    """
    if isinstance(value, Decimal) and value.is_finite():
        try:
            cents = abs(value).quantize(_CENT)  # the context's half-even, as Babel
        except InvalidOperation:  # more digits than the context holds: let Babel say
            return format_currency(value, "BRL", locale=LOCALE)
        # "1,234.56" → "1.234,56"; the sign comes from the value (Babel keeps "-R$ 0,00").
        return ("-R$\xa0" if value.is_signed() else "R$\xa0") + f"{cents:,.2f}".translate(_PT_BR)
    return format_currency(value, "BRL", locale=LOCALE)


_PT_BR = str.maketrans(",.", ".,")


def percent(value: Decimal, digits: int = 2) -> str:
    """``2%``, ``0,33%`` — trailing zeros dropped."""
    if isinstance(value, Decimal) and value.is_finite():  # Babel's output, faster (see brl)
        try:
            rounded = abs(value).normalize().quantize(Decimal(1).scaleb(-digits))
        except InvalidOperation:
            rounded = None
        if rounded is not None:
            whole, _, fraction = f"{rounded:f}".partition(".")
            fraction = fraction.rstrip("0")
            sign = "-" if value.is_signed() else ""
            text = f"{sign}{int(whole):,}".replace(",", ".")
            return f"{text},{fraction}%" if fraction else f"{text}%"
    pattern = "#,##0." + "#" * digits if digits else "#,##0"
    return f"{format_decimal(value, format=pattern, locale=LOCALE)}%"


def short_date(value: date) -> str:
    if type(value) is date:  # (two aware datetimes can be equal in different time zones)
        return _short_date(value)
    return format_date(value, format="dd/MM/yyyy", locale=LOCALE)


@lru_cache(maxsize=8192)  # Babel takes ~50 µs a call; messages show the same few dates
def _short_date(value: date) -> str:
    return format_date(value, format="dd/MM/yyyy", locale=LOCALE)


def short_datetime(value: datetime, tz: str = "America/Sao_Paulo") -> str:
    return format_datetime(value, format="dd/MM/yyyy HH:mm", tzinfo=_tz(tz), locale=LOCALE)


def _tz(name: str):  # type: ignore[no-untyped-def]
    from zoneinfo import ZoneInfo

    return ZoneInfo(name)
