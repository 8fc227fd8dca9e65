"""Fixed-width field specs for CNAB records: reading a line into values and writing one back.

Positions are 1-based and inclusive, exactly as the bank manuals print them ("posição 063 a
070"), so a table can be checked against the manual line by line.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum


class FieldType(StrEnum):
    TEXT = "text"  # alphanumeric (X): surrounding blanks removed, empty → None
    CODE = "code"  # a code (occurrence, motive): surrounding blanks removed
    NOSSO_NUMERO = "nosso_numero"  # every blank removed, leading zeros kept
    DATE = "date"  # DDMMAA (6) or DDMMAAAA (8); zeros or blanks → None
    MONEY = "money"  # 9(n)V99: integer centavos; blanks → 0.00


class CnabFieldError(ValueError):
    """A field whose content does not fit its type (the parser adds file and line)."""


@dataclass(frozen=True)
class Field:
    """One field of a record layout: ``name``, first and last position (1-based), type."""

    name: str
    start: int
    end: int
    type: FieldType

    @property
    def width(self) -> int:
        return self.end - self.start + 1

    def raw(self, line: str) -> str:
        return line[self.start - 1 : self.end]

    def read(self, line: str) -> str | date | Decimal | None:
        raw = self.raw(line)
        try:
            return _READERS[self.type](raw)
        except CnabFieldError as exc:
            raise CnabFieldError(
                f"field {self.name} (positions {self.start}-{self.end}): {exc}"
            ) from None

    def format(self, value: str | date | Decimal | None) -> str:
        """The field as written in a file (for building test files from the same table)."""
        if value is None:
            text = "0" * self.width if self.type in (FieldType.DATE, FieldType.MONEY) else ""
        elif self.type is FieldType.MONEY:
            assert isinstance(value, Decimal)
            text = f"{int(value * 100):0{self.width}d}"
        elif self.type is FieldType.DATE:
            assert isinstance(value, date)
            text = value.strftime("%d%m%Y" if self.width == 8 else "%d%m%y")
        else:
            text = str(value)
        if len(text) > self.width:
            raise CnabFieldError(f"{self.name}: {text!r} does not fit {self.width} positions")
        if self.type in (FieldType.MONEY, FieldType.DATE):
            return text
        return text.ljust(self.width)


YEAR_PIVOT = 80  # 2-digit years: 00–79 → 2000–2079, 80–99 → 1980–1999 (CNAB dates past 1980)


def read_date(raw: str) -> date | None:
    text = raw.strip()
    if not text or set(text) == {"0"}:
        return None
    if not text.isdigit() or len(text) not in (6, 8):
        raise CnabFieldError(f"not a date DDMMAA or DDMMAAAA: {raw!r}")
    day, month = int(text[0:2]), int(text[2:4])
    if len(text) == 6:
        short = int(text[4:6])
        year = 2000 + short if short < YEAR_PIVOT else 1900 + short
    else:
        year = int(text[4:8])
    try:
        return date(year, month, day)
    except ValueError:
        raise CnabFieldError(f"not a valid date: {raw!r}") from None


def read_money(raw: str) -> Decimal:
    text = raw.strip()
    if not text:
        return Decimal("0.00")
    if not text.isascii() or not text.isdigit():
        raise CnabFieldError(f"not an amount in centavos: {raw!r}")
    return Decimal(int(text)) / 100


def _text(raw: str) -> str | None:
    return raw.strip() or None


def _code(raw: str) -> str:
    return raw.strip()


def _nosso_numero(raw: str) -> str:
    return "".join(raw.split())


_READERS = {
    FieldType.TEXT: _text,
    FieldType.CODE: _code,
    FieldType.NOSSO_NUMERO: _nosso_numero,
    FieldType.DATE: read_date,
    FieldType.MONEY: read_money,
}


def build_line(
    fields: tuple[Field, ...],
    values: Mapping[str, str | date | Decimal | None],
    length: int,
    *,
    literals: Mapping[tuple[int, int], str] | None = None,
) -> str:
    """A record of ``length`` characters with ``values`` written at their fields' positions and
    ``literals`` (``{(start, end): "text"}``) at theirs — to write test files from the tables."""
    line = [" "] * length
    for (start, end), text in (literals or {}).items():
        line[start - 1 : end] = list(text.ljust(end - start + 1)[: end - start + 1])
    for spec in fields:
        if spec.name in values:
            line[spec.start - 1 : spec.end] = list(spec.format(values[spec.name]))
    return "".join(line)
