"""Money: ``Decimal`` in Python, integer centavos in the database.

Every amount is rounded explicitly. The house rule is ROUND_HALF_UP to the centavo (the rule
Brazilian banks and courts apply when they show a value with two decimals, NBR 5891 aside);
callers that need another rule pass it explicitly.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

CENT = Decimal("0.01")
ZERO = Decimal("0.00")

_PLAIN_AMOUNT = re.compile(r"^-?\d+(\.\d+)?$")


class AmountError(ValueError):
    """An amount that cannot be read or does not fit the money rules."""


def quantize(value: Decimal, rounding: str = ROUND_HALF_UP) -> Decimal:
    """Round to the centavo (ROUND_HALF_UP unless told otherwise)."""
    return value.quantize(CENT, rounding=rounding)


def to_cents(value: Decimal) -> int:
    """Exact conversion to integer centavos; refuses values with fractions of a centavo."""
    if value != value.quantize(CENT):
        raise AmountError(f"{value} has more than 2 decimal places")
    return int(value * 100)


def from_cents(cents: int) -> Decimal:
    """Exact: ``12345`` → ``Decimal("123.45")`` (a shift of the exponent, no rounding)."""
    return Decimal(int(cents)).scaleb(-2)


def money_str(value: Decimal) -> str:
    """The contract form of an amount: ``"1234.50"`` (two decimals, point, no grouping)."""
    return f"{quantize(value):.2f}"


def parse_amount(text: str, *, decimal_separator: str | None = None) -> Decimal:
    """Reads ``1234.56``, ``1234,56``, ``1.234,56`` or ``1,234.56`` into an exact Decimal.

    With ``decimal_separator`` given, the other separator is taken as grouping. Without it, the
    last of ``,``/``.`` followed by one or two digits is the decimal mark. Rejects anything
    else (letters, currency signs other than a leading ``R$``, several decimal marks).
    """
    raw = text.strip().replace("\u00a0", "").replace(" ", "")
    if raw.upper().startswith("R$"):
        raw = raw[2:]
    if not raw:
        raise AmountError("empty amount")
    if decimal_separator is None:
        last = max(raw.rfind(","), raw.rfind("."))
        decimal_separator = raw[last] if last != -1 and len(raw) - last - 1 in (1, 2) else "."
    group = "." if decimal_separator == "," else ","
    cleaned = raw.replace(group, "")
    if decimal_separator == ",":
        cleaned = cleaned.replace(",", ".")
    if not _PLAIN_AMOUNT.match(cleaned):
        raise AmountError(f"'{text}' is not an amount")
    try:
        return Decimal(cleaned)
    except InvalidOperation as exc:  # pragma: no cover - the regex already guards this
        raise AmountError(f"'{text}' is not an amount") from exc


def check_positive_amount(value: Decimal) -> Decimal:
    """Receivable and payment amounts: > 0 with at most two decimals."""
    if value <= 0:
        raise AmountError("must be greater than zero")
    if value != value.quantize(CENT):
        raise AmountError("must have at most 2 decimal places")
    return value.quantize(CENT)


def split_evenly(total: Decimal, parts: int) -> list[Decimal]:
    """Splits ``total`` into ``parts`` installments that add up exactly.

    Every installment but the last is ``total / parts`` rounded down to the centavo; the last one
    takes the remainder, so ``sum(result) == total`` always holds.
    """
    if parts < 1:
        raise ValueError("parts must be >= 1")
    base = (total / parts).quantize(CENT, rounding="ROUND_DOWN")
    return [base] * (parts - 1) + [total - base * (parts - 1)]
