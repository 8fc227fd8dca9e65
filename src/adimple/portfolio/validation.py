"""Field rules for the portfolio, shared by file imports and the API (pure code).

Each function returns the normalised value or raises ``ValueError`` with the reason a person
reads next to the file, line and field.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from validate_docbr import CNPJ, CPF

from adimple.kit.calendar import UFS
from adimple.portfolio.models import DocumentKind

_CPF = CPF()
_CNPJ = CNPJ()
_DOC_PUNCTUATION = re.compile(r"[.\-/\s]")
_CNPJ_SHAPE = re.compile(r"^[0-9A-Z]{12}[0-9]{2}$")  # alphanumeric CNPJ (IN RFB 2.229/2024)

TRUE_WORDS = frozenset({"1", "true", "t", "sim", "s", "yes", "y", "x", "verdadeiro"})
FALSE_WORDS = frozenset({"0", "false", "f", "nao", "não", "n", "no", ""})


def normalize_document(text: str) -> tuple[str, DocumentKind]:
    """CPF (11 digits) or CNPJ (14 characters, numeric or alphanumeric) with valid check digits."""
    raw = _DOC_PUNCTUATION.sub("", text or "").upper()
    if not raw:
        raise ValueError("required")
    if raw.isdigit() and len(raw) <= 11:
        raw = raw.zfill(11)  # spreadsheets drop CPF leading zeros
        if not _CPF.validate(raw):
            raise ValueError(f"'{text}' is not a valid CPF (check digits)")
        return raw, DocumentKind.CPF
    if raw.isdigit() and 12 <= len(raw) <= 14:
        raw = raw.zfill(14)
    if _CNPJ_SHAPE.match(raw):
        if not _CNPJ.validate(raw):
            raise ValueError(f"'{text}' is not a valid CNPJ (check digits)")
        return raw, DocumentKind.CNPJ
    raise ValueError(f"'{text}' is neither a CPF (11 digits) nor a CNPJ (14 characters)")


def normalize_email(text: str) -> str:
    try:
        result = validate_email(text.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValueError(f"'{text}' is not a valid e-mail address: {exc}") from exc
    return result.normalized


def normalize_phone(text: str) -> str:
    """Brazilian (or international, with +) phone number in E.164: ``+5511987654321``."""
    try:
        number = phonenumbers.parse(text.strip(), "BR")
    except phonenumbers.NumberParseException as exc:
        raise ValueError(f"'{text}' is not a phone number") from exc
    if not phonenumbers.is_valid_number(number):
        raise ValueError(f"'{text}' is not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_uf(text: str) -> str:
    uf = text.strip().upper()
    if uf not in UFS:
        raise ValueError(f"'{text}' is not a Brazilian UF")
    return uf


def parse_date(text: str) -> date:
    """``YYYY-MM-DD`` or ``DD/MM/YYYY``."""
    value = text.strip()
    for fmt in ("%Y-%m-%d", "%d/%m/%Y"):
        try:
            return datetime.strptime(value, fmt).date()
        except ValueError:
            continue
    raise ValueError(f"'{text}' is not a date (use AAAA-MM-DD or DD/MM/AAAA)")


def parse_bool(text: str) -> bool:
    word = strip_accents(text.strip().lower())
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ValueError(f"'{text}' is not yes/no (use sim/não, true/false, 1/0)")


def strip_accents(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
