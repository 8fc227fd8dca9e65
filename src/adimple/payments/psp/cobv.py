"""The body of a *cobrança com vencimento* (``cobv``) of the BCB API Pix — pure code.

API Pix (BCB, ``openapi.yaml``, schema ``CobVSolicitada``): ``calendario.dataDeVencimento``
(``YYYY-MM-DD``) and ``validadeAposVencimento`` (calendar days the charge may still be paid after
the due date, default 30), ``devedor`` (``cpf`` *or* ``cnpj`` plus ``nome``), ``valor.original``
and the optional ``valor.multa`` / ``valor.juros`` / ``valor.desconto`` objects, each a
``modalidade`` from the spec's domain tables and a ``valorPerc`` string. Every monetary or
percentage value follows the BR Code ID 54 format ``\\d{1,10}\\.\\d{2}`` (point as decimal
separator, no thousands separator).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from adimple.kit.money import quantize

# API Pix: the txid of a cobv is 26 to 35 letters or digits (path parameter ``txid``).
COBV_TXID = re.compile(r"^[a-zA-Z0-9]{26,35}$")
VALUE = re.compile(r"^\d{1,10}\.\d{2}$")


class FineMode(enum.IntEnum):
    """``valor.multa.modalidade``: 1 valor fixo, 2 percentual."""

    FIXED = 1
    PERCENT = 2


class InterestMode(enum.IntEnum):
    """``valor.juros.modalidade`` (dias corridos 1–4, dias úteis 5–8)."""

    VALUE_PER_CALENDAR_DAY = 1
    PERCENT_PER_DAY = 2
    PERCENT_PER_MONTH = 3
    PERCENT_PER_YEAR = 4
    VALUE_PER_BUSINESS_DAY = 5
    PERCENT_PER_BUSINESS_DAY = 6
    PERCENT_PER_MONTH_BUSINESS_DAYS = 7
    PERCENT_PER_YEAR_BUSINESS_DAYS = 8


class DiscountMode(enum.IntEnum):
    """``valor.desconto.modalidade``: 1/2 fixed value/percent until fixed dates
    (``descontoDataFixa``); 3–6 per day of early payment (value or percent, calendar or
    business days)."""

    FIXED_UNTIL_DATES = 1
    PERCENT_UNTIL_DATES = 2
    VALUE_PER_CALENDAR_DAY_EARLY = 3
    VALUE_PER_BUSINESS_DAY_EARLY = 4
    PERCENT_PER_CALENDAR_DAY_EARLY = 5
    PERCENT_PER_BUSINESS_DAY_EARLY = 6


def value_str(value: Decimal) -> str:
    """``Decimal("2")`` → ``"2.00"`` (BR Code ID 54 format used by every API Pix value)."""
    text = f"{quantize(value):.2f}"
    if not VALUE.match(text):
        raise ValueError(f"value {value} does not fit the API Pix format \\d{{1,10}}\\.\\d{{2}}")
    return text


@dataclass(frozen=True)
class Fine:
    mode: FineMode
    value: Decimal

    def as_json(self) -> dict[str, Any]:
        return {"modalidade": int(self.mode), "valorPerc": value_str(self.value)}


@dataclass(frozen=True)
class Interest:
    mode: InterestMode
    value: Decimal

    def as_json(self) -> dict[str, Any]:
        return {"modalidade": int(self.mode), "valorPerc": value_str(self.value)}


@dataclass(frozen=True)
class Discount:
    mode: DiscountMode
    value: Decimal | None = None
    until: tuple[tuple[date, Decimal], ...] = ()

    def as_json(self) -> dict[str, Any]:
        if self.mode in (DiscountMode.FIXED_UNTIL_DATES, DiscountMode.PERCENT_UNTIL_DATES):
            return {
                "modalidade": int(self.mode),
                "descontoDataFixa": [
                    {"data": day.isoformat(), "valorPerc": value_str(amount)}
                    for day, amount in self.until
                ],
            }
        assert self.value is not None
        return {"modalidade": int(self.mode), "valorPerc": value_str(self.value)}


@dataclass(frozen=True)
class CobvRequest:
    """What ``PUT /v2/cobv/{txid}`` (and a revising ``PATCH``) sends."""

    key: str  # chave Pix do recebedor
    due_date: date
    amount: Decimal
    debtor_name: str
    debtor_document: str  # CPF (11 digits) or CNPJ (14 characters)
    validity_after_due_days: int = 30
    fine: Fine | None = None
    interest: Interest | None = None
    discount: Discount | None = None
    payer_message: str | None = None  # solicitacaoPagador, ≤ 140 characters
    additional_info: tuple[tuple[str, str], ...] = ()

    def as_json(self) -> dict[str, Any]:
        document = re.sub(r"[.\-/\s]", "", self.debtor_document).upper()
        devedor: dict[str, str] = {"cpf" if len(document) == 11 else "cnpj": document}
        devedor["nome"] = self.debtor_name[:200]
        valor: dict[str, Any] = {"original": value_str(self.amount)}
        if self.fine is not None:
            valor["multa"] = self.fine.as_json()
        if self.interest is not None:
            valor["juros"] = self.interest.as_json()
        if self.discount is not None:
            valor["desconto"] = self.discount.as_json()
        body: dict[str, Any] = {
            "calendario": {
                "dataDeVencimento": self.due_date.isoformat(),
                "validadeAposVencimento": self.validity_after_due_days,
            },
            "devedor": devedor,
            "valor": valor,
            "chave": self.key,
        }
        if self.payer_message:
            body["solicitacaoPagador"] = self.payer_message[:140]
        if self.additional_info:
            body["infoAdicionais"] = [
                {"nome": name[:50], "valor": value[:200]} for name, value in self.additional_info
            ]
        return body


def same_charge(sent: dict[str, Any], stored: dict[str, Any]) -> bool:
    """True when the PSP's cobv carries what ``sent`` asks for (keys the PSP echoes back).

    Used to make a repeated ``PUT`` harmless: the PSP refuses a txid it already has, and the
    adapter then compares instead of failing. Numbers are compared as text (``2`` == ``"2"``).
    """

    def norm(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: norm(v) for k, v in value.items()}
        if isinstance(value, list):
            return [norm(v) for v in value]
        return str(value)

    for key in ("calendario", "devedor", "valor", "chave"):
        want = norm(sent.get(key))
        have = norm(stored.get(key))
        if isinstance(want, dict) and isinstance(have, dict):
            if any(have.get(k) != v for k, v in want.items()):
                return False
        elif want != have:
            return False
    return True
