"""Boleto de cobrança: 44-digit barcode ⇄ 47-digit linha digitável. Pure code.

Layout from FEBRABAN, *Especificações Técnicas para Confecção de Boleto de Pagamento* (the
"ficha de compensação" standard adopted by every bank; e.g. Banco do Brasil Doc5175 Anexos 7–10,
Itaú "Cobrança — Especificações do boleto", Bradesco "Boleto de cobrança — layout"):

Barcode (44 digits, Interleaved 2 of 5)::

    01-03 bank code (código do banco na compensação)
    04    currency code (9 = Real)
    05    general check digit (DV geral, módulo 11 over the other 43 digits)
    06-09 due-date factor (fator de vencimento; 0000 = no due date)
    10-19 amount in centavos (valor, 10 digits)
    20-44 free field (campo livre, 25 digits, defined by each bank)

Linha digitável (47 digits), five fields::

    campo 1: bank(3) currency(1) free[1-5]   + DV mod 10      -> 10 digits
    campo 2: free[6-15]                       + DV mod 10      -> 11 digits
    campo 3: free[16-25]                      + DV mod 10      -> 11 digits
    campo 4: general check digit of the barcode                 ->  1 digit
    campo 5: due factor(4) + amount(10)                         -> 14 digits

Due-date factor: days since 1997-10-07 (factor 1000 = 2000-07-03). FEBRABAN's "Fator de
Vencimento" note (Comunicado FEBRABAN, 2022) restarts it at 1000 on 2025-02-22 after 9999 on
2025-02-21, so a factor names one date every 9000 days; readers pick the candidate nearest the
reading date.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from adimple.kit.money import CENT, money_str

FACTOR_BASE = date(1997, 10, 7)  # FEBRABAN: fator 0000 refers to 1997-10-07 ("data base")
FACTOR_CYCLE = 9000  # factors 1000..9999, then back to 1000
MAX_AMOUNT = Decimal("99999999.99")  # 10 digits of centavos

_PUNCTUATION = re.compile(r"[\s.\-_/]")


class BoletoError(ValueError):
    """A barcode or linha digitável that cannot be read or built."""


# --------------------------------------------------------------------------------------------
# Check digits
# --------------------------------------------------------------------------------------------


def mod10(digits: str) -> int:
    """Módulo 10 (FEBRABAN): weights 2,1,2,1… from the right, digits of each product summed;
    DV = (10 − sum mod 10) mod 10. Used for the three fields of the linha digitável."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        product = int(char) * (2 if index % 2 == 0 else 1)
        total += product // 10 + product % 10
    return (10 - total % 10) % 10


def mod11_weighted_sum(digits: str, *, max_weight: int = 9) -> int:
    """Σ digit × weight, weights 2..max_weight cycling from the right."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        total += int(char) * (2 + index % (max_weight - 1))
    return total


def barcode_dv(barcode43: str) -> int:
    """General DV (FEBRABAN): módulo 11, weights 2–9 from the right; 0, 10 and 11 become 1."""
    dv = 11 - mod11_weighted_sum(barcode43) % 11
    return 1 if dv in (0, 10, 11) else dv


# --------------------------------------------------------------------------------------------
# Due-date factor
# --------------------------------------------------------------------------------------------


def due_factor(due: date) -> int:
    """The 4-digit factor of ``due`` (restarting at 1000 every 9000 days since 2000-07-03)."""
    days = (due - FACTOR_BASE).days
    if days < 1:
        raise BoletoError(f"due date {due.isoformat()} is before the factor base 1997-10-08")
    if days < 1000:
        return days
    return 1000 + (days - 1000) % FACTOR_CYCLE


def factor_dates(factor: int) -> list[date]:
    """Every date a factor can name: one per 9000-day cycle (a factor below 1000 only in the
    first cycle, 1997-10-08..2000-07-02, since later cycles restart at 1000)."""
    if not 1 <= factor <= 9999:
        raise BoletoError(f"due factor {factor} outside 0001..9999")
    first = FACTOR_BASE + timedelta(days=factor)
    if factor < 1000:
        return [first]
    return [first + timedelta(days=FACTOR_CYCLE * k) for k in range(0, 10)]


def factor_to_date(factor: int, as_of: date | None = None) -> date | None:
    """The date ``factor`` names that is nearest to ``as_of`` (default today); 0 → ``None``.

    On an exact tie (4500 days either way) the later date wins, as the FEBRABAN reading window
    reaches further into the future (5500 days) than into the past (3000 days).
    """
    if factor == 0:
        return None
    reference = as_of or date.today()
    return min(
        factor_dates(factor),
        key=lambda d: (abs((d - reference).days), -d.toordinal()),
    )


# --------------------------------------------------------------------------------------------
# Barcode / linha digitável
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Boleto:
    """A decoded boleto: código de barras, linha digitável and what they carry."""

    bank_code: str
    currency_code: str
    due_factor: int
    due_date: date | None
    amount: Decimal
    barcode: str
    linha_digitavel: str
    free_field: str

    @property
    def general_dv(self) -> str:
        return self.barcode[4]

    @property
    def formatted_linha(self) -> str:
        return format_linha(self.linha_digitavel)

    def as_contract(self) -> dict[str, object]:
        """The ``adimple boleto decode`` JSON object (DESIGN §6)."""
        return {
            "bank_code": self.bank_code,
            "currency_code": self.currency_code,
            "due_factor": self.due_factor,
            "due_date": None if self.due_date is None else self.due_date.isoformat(),
            "amount": money_str(self.amount),
            "barcode": self.barcode,
            "linha_digitavel": self.linha_digitavel,
            "free_field": self.free_field,
        }


def normalize(code: str) -> str:
    """Digits only: spaces, dots, hyphens and slashes removed; anything else is an error."""
    digits = _PUNCTUATION.sub("", code)
    if not digits.isascii() or not digits.isdigit():
        raise BoletoError("a boleto code has only digits (spaces and dots allowed)")
    return digits


def barcode_to_linha(barcode: str) -> str:
    """The 47-digit linha digitável of a 44-digit barcode (check digits recomputed)."""
    _check_barcode_shape(barcode)
    head, free = barcode[0:4], barcode[19:44]
    field1 = head + free[0:5]
    field2 = free[5:15]
    field3 = free[15:25]
    return (
        f"{field1}{mod10(field1)}{field2}{mod10(field2)}{field3}{mod10(field3)}"
        f"{barcode[4]}{barcode[5:19]}"
    )


def linha_to_barcode(linha: str) -> str:
    """The 44-digit barcode of a 47-digit linha digitável, after checking its three field DVs
    (módulo 10) and the general DV (módulo 11)."""
    if len(linha) != 47 or not linha.isdigit():
        raise BoletoError("a linha digitável has 47 digits")
    fields = ((1, linha[0:9], linha[9]), (2, linha[10:20], linha[20]), (3, linha[21:31], linha[31]))
    for number, body, dv in fields:
        if mod10(body) != int(dv):
            raise BoletoError(
                f"check digit of campo {number} is wrong (módulo 10): "
                f"expected {mod10(body)}, found {dv}"
            )
    barcode = linha[0:4] + linha[32] + linha[33:47] + linha[4:9] + linha[10:20] + linha[21:31]
    _check_general_dv(barcode)
    return barcode


def decode(code: str, *, as_of: date | None = None) -> Boleto:
    """Reads a barcode (44 digits) or linha digitável (47 digits, punctuation allowed)."""
    digits = normalize(code)
    if len(digits) == 44:
        barcode = digits
        _check_barcode_shape(barcode)
        _check_general_dv(barcode)
        linha = barcode_to_linha(barcode)
    elif len(digits) == 47:
        linha = digits
        barcode = linha_to_barcode(linha)
    elif len(digits) == 48 and digits.startswith("8"):
        raise BoletoError(
            "48 digits starting with 8 is a convênio/arrecadação slip (contas de consumo, "
            "tributos), not a boleto de cobrança"
        )
    else:
        raise BoletoError(
            f"a boleto code has 44 (barcode) or 47 (linha digitável) digits, got {len(digits)}"
        )
    factor = int(barcode[5:9])
    return Boleto(
        bank_code=barcode[0:3],
        currency_code=barcode[3],
        due_factor=factor,
        due_date=factor_to_date(factor, as_of),
        amount=Decimal(int(barcode[9:19])) / 100,
        barcode=barcode,
        linha_digitavel=linha,
        free_field=barcode[19:44],
    )


def encode(
    *,
    bank_code: str,
    free_field: str,
    amount: Decimal,
    due_date: date | None,
    currency_code: str = "9",
) -> Boleto:
    """Builds the barcode and linha digitável from the bank's free field (campo livre)."""
    if not re.fullmatch(r"\d{3}", bank_code):
        raise BoletoError(f"bank code must be 3 digits, got {bank_code!r}")
    if not re.fullmatch(r"\d", currency_code):
        raise BoletoError("currency code is one digit (9 = Real)")
    if not re.fullmatch(r"\d{25}", free_field):
        raise BoletoError(f"the free field (campo livre) has 25 digits, got {free_field!r}")
    if amount < 0 or amount > MAX_AMOUNT:
        raise BoletoError(f"amount must be between 0.00 and {MAX_AMOUNT}")
    if amount != amount.quantize(CENT):
        raise BoletoError("amount must have at most 2 decimal places")
    factor = 0 if due_date is None else due_factor(due_date)
    cents = int(amount * 100)
    body = f"{bank_code}{currency_code}{factor:04d}{cents:010d}{free_field}"
    barcode = body[:4] + str(barcode_dv(body)) + body[4:]
    return Boleto(
        bank_code=bank_code,
        currency_code=currency_code,
        due_factor=factor,
        due_date=due_date,
        amount=amount.quantize(CENT),
        barcode=barcode,
        linha_digitavel=barcode_to_linha(barcode),
        free_field=free_field,
    )


def format_linha(linha: str) -> str:
    """``AAAAA.AAAAA BBBBB.BBBBBB CCCCC.CCCCCC K UUUUVVVVVVVVVV`` as printed on the boleto."""
    if len(linha) != 47:
        raise BoletoError("a linha digitável has 47 digits")
    return (
        f"{linha[0:5]}.{linha[5:10]} {linha[10:15]}.{linha[15:21]} "
        f"{linha[21:26]}.{linha[26:32]} {linha[32]} {linha[33:47]}"
    )


def _check_barcode_shape(barcode: str) -> None:
    if len(barcode) != 44 or not barcode.isdigit():
        raise BoletoError("a barcode has 44 digits")


def _check_general_dv(barcode: str) -> None:
    expected = barcode_dv(barcode[:4] + barcode[5:])
    if int(barcode[4]) != expected:
        raise BoletoError(
            f"general check digit is wrong (módulo 11): expected {expected}, found {barcode[4]}"
        )
