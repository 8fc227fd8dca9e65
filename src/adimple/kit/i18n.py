"""What people read is pt-BR, formatted with Babel (``R$ 1.234,56``, ``22/11/2026``)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache

from babel.dates import format_date, format_datetime
from babel.numbers import format_currency, format_decimal

LOCALE = "pt_BR"


def brl(value: Decimal) -> str:
    """``R$ 1.234,56`` (Babel puts a no-break space after the symbol; we keep it)."""
    return format_currency(value, "BRL", locale=LOCALE)


def percent(value: Decimal, digits: int = 2) -> str:
    """``2%``, ``0,33%`` — trailing zeros dropped."""
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
