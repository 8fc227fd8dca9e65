"""PIX BR Code ("Pix Copia e Cola"): encoder and validating decoder. Pure: text in, dataclasses out.

The BR Code is the Banco Central profile of the EMV® QRCPS Merchant-Presented Mode payload
(BCB, *Manual de Padrões para Iniciação do Pix*, Anexo I "Especificação do BR Code"; EMVCo
*QR Code Specification for Payment Systems — Merchant-Presented Mode* v1.0). The payload is a run of
TLV objects: a 2-digit ID, a 2-digit length and the value, where the length counts *characters*
(EMV MPM §4.7), followed by the CRC object ``6304XXXX`` as the very last one.

Top-level objects handled here (IDs as in the manual, "M" = mandatory, "O" = optional):

====  ==========================================  ===  ==========================================
ID    name                                        M/O  rule applied
====  ==========================================  ===  ==========================================
00    Payload Format Indicator                    M    first object, value ``01``
01    Point of Initiation Method                  O    ``11`` static (reusable), ``12`` dynamic
26    Merchant Account Information — Pix          M    ``00`` GUI ``br.gov.bcb.pix`` (any case),
                                                       ``01`` key, ``02`` description,
                                                       ``03`` FSS, ``25`` location URL
52    Merchant Category Code                      M    4 digits (``0000`` when not informed)
53    Transaction Currency                        M    ``986`` (BRL, ISO 4217)
54    Transaction Amount                          O    digits, optional ``.`` and ≤ 2 decimals
58    Country Code                                M    ``BR``
59    Merchant Name                               M    1–25 characters
60    Merchant City                               M    1–15 characters
61    Postal Code                                 O    1–99 characters (CEP, 8 digits, usual)
62    Additional Data Field Template              M    ``05`` Reference Label = txid
                                                       ``[A-Za-z0-9]{1,25}`` or ``***``
80-99 Unreserved Templates                        O    parsed as TLV and preserved
63    CRC                                         M    last object; CRC-16/CCITT-FALSE
====  ==========================================  ===  ==========================================

Other EMV objects (02–25 and 27–51 of other arrangements, 55–57 tip, 64 language template, RFU
IDs) are kept verbatim so that a decode → encode round trip gives back the same payload.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from adimple.kit.money import CENT, money_str

PIX_GUI = "br.gov.bcb.pix"
MAX_PAYLOAD_LENGTH = 512  # BCB manual: the whole BR Code is at most 512 characters.
MAX_NAME_LENGTH = 25  # ID 59, EMV MPM table 3.7
MAX_CITY_LENGTH = 15  # ID 60
MAX_KEY_LENGTH = 77  # ID 26-01: a Pix key (e-mail keys) is at most 77 characters
MAX_URL_LENGTH = 77  # ID 26-25: the location URL, without "https://"
MAX_AMOUNT_LENGTH = 13  # ID 54
STATIC = "11"
DYNAMIC = "12"
NO_TXID = "***"

_TXID = re.compile(r"^[A-Za-z0-9]{1,25}$")
_AMOUNT = re.compile(r"^\d+(\.\d{0,2})?$|^\.\d{1,2}$")
_TAG = re.compile(r"^\d{2}$")

Tlv = tuple[str, str]
"""One TLV object: (two-digit ID, value)."""


class PixError(ValueError):
    """A BR Code that cannot be read or built (mensagem em inglês, com o termo do manual)."""


def crc16_ccitt_false(data: bytes) -> int:
    """CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, no reflection, no final XOR (BR Code ID 63)."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
            crc &= 0xFFFF
    return crc


def crc_of(payload_through_6304: str) -> str:
    """The CRC object's value for everything up to and including ``"6304"`` (UTF-8 bytes)."""
    return f"{crc16_ccitt_false(payload_through_6304.encode('utf-8')):04X}"


@dataclass(frozen=True)
class PixPayload:
    """A decoded (or to-be-encoded) BR Code: QR estático ou dinâmico do Pix.

    ``amount`` is ``None`` when the payload has no ID 54 (the payer types the value).
    ``txid`` is the raw ``62-05`` value, ``"***"`` when the payload carries no txid.
    ``templates`` holds the unreserved templates 80–99 as ``(id, ((sub_id, value), ...))``;
    ``extra_fields``/``extra_account_fields``/``extra_additional_fields`` keep any other object
    of the top level, of template 26 and of template 62 exactly as read.
    """

    merchant_name: str
    merchant_city: str
    key: str | None = None
    description: str | None = None
    url: str | None = None
    amount: Decimal | None = None
    txid: str = NO_TXID
    point_of_initiation: str | None = None
    payload_format: str = "01"
    gui: str = PIX_GUI
    fss: str | None = None
    mcc: str = "0000"
    currency: str = "986"
    country: str = "BR"
    postal_code: str | None = None
    account_tag: str = "26"
    templates: tuple[tuple[str, tuple[Tlv, ...]], ...] = ()
    extra_fields: tuple[Tlv, ...] = ()
    extra_account_fields: tuple[Tlv, ...] = ()
    extra_additional_fields: tuple[Tlv, ...] = ()
    crc: str | None = field(default=None, compare=False)

    @property
    def is_dynamic(self) -> bool:
        return self.point_of_initiation == DYNAMIC or self.url is not None

    def as_contract(self) -> dict[str, str | None]:
        """The ``adimple pix decode`` JSON object (DESIGN §6), in the contract's key order."""
        return {
            "payload_format": self.payload_format,
            "point_of_initiation": self.point_of_initiation,
            "gui": self.gui,
            "key": self.key,
            "description": self.description,
            "url": self.url,
            "mcc": self.mcc,
            "currency": self.currency,
            "amount": None if self.amount is None else money_str(self.amount),
            "country": self.country,
            "merchant_name": self.merchant_name,
            "merchant_city": self.merchant_city,
            "postal_code": self.postal_code,
            "txid": self.txid,
            "crc": self.crc,
        }


# --------------------------------------------------------------------------------------------
# TLV
# --------------------------------------------------------------------------------------------


def parse_tlv(text: str, *, where: str = "payload") -> list[Tlv]:
    """Splits ``text`` into TLV objects; lengths count characters (EMV MPM §4.7)."""
    objects: list[Tlv] = []
    pos = 0
    while pos < len(text):
        header = text[pos : pos + 4]
        if len(header) < 4:
            raise PixError(f"{where}: trailing garbage at position {pos}: {text[pos:]!r}")
        tag, length_text = header[:2], header[2:]
        if not (_TAG.match(tag) and _TAG.match(length_text)):
            raise PixError(f"{where}: bad TLV header {header!r} at position {pos}")
        length = int(length_text)
        if length == 0:
            raise PixError(f"{where}: field {tag} has length 00")
        value = text[pos + 4 : pos + 4 + length]
        if len(value) != length:
            raise PixError(
                f"{where}: field {tag} declares {length} characters but only {len(value)} follow"
            )
        objects.append((tag, value))
        pos += 4 + length
    return objects


def tlv(tag: str, value: str) -> str:
    """One TLV object; refuses values that do not fit the two-digit length."""
    if not 1 <= len(value) <= 99:
        raise PixError(f"field {tag} must have 1 to 99 characters, got {len(value)}")
    return f"{tag}{len(value):02d}{value}"


def _unique(objects: Iterable[Tlv], where: str) -> dict[str, str]:
    seen: dict[str, str] = {}
    for tag, value in objects:
        if tag in seen:
            raise PixError(f"{where}: field {tag} appears twice")
        seen[tag] = value
    return seen


# --------------------------------------------------------------------------------------------
# Decode
# --------------------------------------------------------------------------------------------


def decode(payload: str) -> PixPayload:
    """Validates and decodes a BR Code. Raises :class:`PixError` with the reason."""
    if not isinstance(payload, str):
        raise PixError("payload must be text")
    text = payload.strip()
    if not text:
        raise PixError("empty payload")
    if len(text) > MAX_PAYLOAD_LENGTH:
        raise PixError(f"payload has {len(text)} characters; the BR Code limit is 512")
    objects = parse_tlv(text)
    if objects[0][0] != "00":
        raise PixError("the payload must start with field 00 (Payload Format Indicator)")
    if objects[-1][0] != "63":
        raise PixError("the payload must end with field 63 (CRC)")
    crc_value = objects[-1][1]
    if len(crc_value) != 4 or not re.fullmatch(r"[0-9A-Fa-f]{4}", crc_value):
        raise PixError(f"field 63 (CRC) must be 4 hexadecimal digits, got {crc_value!r}")
    expected = crc_of(text[:-4])
    if crc_value.upper() != expected:
        raise PixError(f"CRC mismatch: payload says {crc_value}, computed {expected}")
    fields = _unique(objects, "payload")

    if fields["00"] != "01":
        raise PixError(f"field 00 (Payload Format Indicator) must be '01', got {fields['00']!r}")
    poi = fields.get("01")
    if poi is not None and poi not in (STATIC, DYNAMIC):
        raise PixError(f"field 01 (Point of Initiation Method) must be 11 or 12, got {poi!r}")

    account_tag, account = _pix_account(objects)
    where = f"field {account_tag}"
    account_fields = _unique(parse_tlv(account, where=where), where)
    gui = account_fields.get("00")
    key = account_fields.get("01")
    url = account_fields.get("25")
    if key is not None and len(key) > MAX_KEY_LENGTH:
        raise PixError(f"field {account_tag}-01 (Pix key) longer than {MAX_KEY_LENGTH}")
    if url is not None and len(url) > MAX_URL_LENGTH:
        raise PixError(f"field {account_tag}-25 (URL) longer than {MAX_URL_LENGTH}")

    mcc = _required(fields, "52", "Merchant Category Code")
    if not re.fullmatch(r"\d{4}", mcc):
        raise PixError(f"field 52 (Merchant Category Code) must be 4 digits, got {mcc!r}")
    currency = _required(fields, "53", "Transaction Currency")
    if currency != "986":
        raise PixError(f"field 53 (Transaction Currency) must be 986 (BRL), got {currency!r}")
    amount = _decode_amount(fields.get("54"))
    country = _required(fields, "58", "Country Code")
    if country != "BR":
        raise PixError(f"field 58 (Country Code) must be BR, got {country!r}")
    name = _required(fields, "59", "Merchant Name")
    if len(name) > MAX_NAME_LENGTH:
        raise PixError(f"field 59 (Merchant Name) longer than {MAX_NAME_LENGTH} characters")
    city = _required(fields, "60", "Merchant City")
    if len(city) > MAX_CITY_LENGTH:
        raise PixError(f"field 60 (Merchant City) longer than {MAX_CITY_LENGTH} characters")
    postal_code = fields.get("61")

    additional = _required(fields, "62", "Additional Data Field Template")
    additional_fields = _unique(parse_tlv(additional, where="field 62"), "field 62")
    txid = additional_fields.get("05")
    if txid is None:
        raise PixError("field 62-05 (Reference Label / txid) is missing; use '***' for none")
    if txid != NO_TXID and not _TXID.match(txid):
        raise PixError(f"field 62-05 (txid) must be [A-Za-z0-9]{{1,25}} or '***', got {txid!r}")

    templates: list[tuple[str, tuple[Tlv, ...]]] = []
    extra: list[Tlv] = []
    handled = {"00", "01", account_tag, "52", "53", "54", "58", "59", "60", "61", "62", "63"}
    for tag, value in objects:
        if tag in handled:
            continue
        if 80 <= int(tag) <= 99:
            templates.append((tag, tuple(parse_tlv(value, where=f"field {tag}"))))
        else:
            extra.append((tag, value))

    return PixPayload(
        payload_format=fields["00"],
        point_of_initiation=poi,
        account_tag=account_tag,
        gui=gui or PIX_GUI,
        key=key,
        description=account_fields.get("02"),
        fss=account_fields.get("03"),
        url=url,
        extra_account_fields=tuple(
            (t, v) for t, v in account_fields.items() if t not in {"00", "01", "02", "03", "25"}
        ),
        mcc=mcc,
        currency=currency,
        amount=amount,
        country=country,
        merchant_name=name,
        merchant_city=city,
        postal_code=postal_code,
        txid=txid,
        extra_additional_fields=tuple((t, v) for t, v in additional_fields.items() if t != "05"),
        templates=tuple(templates),
        extra_fields=tuple(extra),
        crc=crc_value,
    )


def _pix_account(objects: list[Tlv]) -> tuple[str, str]:
    """The merchant account template (IDs 26–51) whose GUI is ``br.gov.bcb.pix``.

    The manual puts it in 26; the GUI comparison ignores case (it is a reversed domain name).
    """
    for tag, value in objects:
        if not 26 <= int(tag) <= 51:
            continue
        try:
            sub = dict(parse_tlv(value, where=f"field {tag}"))
        except PixError:
            if tag == "26":
                raise
            continue
        if sub.get("00", "").lower() == PIX_GUI:
            return tag, value
        if tag == "26":
            raise PixError(f"field 26-00 (GUI) must be {PIX_GUI!r}, got {sub.get('00')!r}")
    raise PixError("field 26 (Merchant Account Information with GUI br.gov.bcb.pix) is missing")


def _required(fields: dict[str, str], tag: str, name: str) -> str:
    value = fields.get(tag)
    if value is None:
        raise PixError(f"mandatory field {tag} ({name}) is missing")
    return value


def _decode_amount(raw: str | None) -> Decimal | None:
    if raw is None:
        return None
    if not _AMOUNT.match(raw):
        raise PixError(f"field 54 (Transaction Amount) is not a valid amount: {raw!r}")
    try:
        return Decimal(raw).quantize(CENT)
    except InvalidOperation as exc:  # pragma: no cover - the regex already guards this
        raise PixError(f"field 54 (Transaction Amount) is not a valid amount: {raw!r}") from exc


# --------------------------------------------------------------------------------------------
# Encode
# --------------------------------------------------------------------------------------------


def strip_accents(text: str) -> str:
    """``São Paulo`` → ``Sao Paulo``: the manual asks for name and city without accents."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def build(
    *,
    merchant_name: str,
    merchant_city: str,
    key: str | None = None,
    url: str | None = None,
    amount: Decimal | None = None,
    txid: str | None = None,
    description: str | None = None,
    postal_code: str | None = None,
    mcc: str = "0000",
    templates: tuple[tuple[str, tuple[Tlv, ...]], ...] = (),
) -> PixPayload:
    """A validated :class:`PixPayload` ready for :func:`encode`.

    Static QR (``key`` given, no ``url``): Point of Initiation is omitted (the BCB example does
    so; ``11`` is implied) and ``txid`` defaults to ``***``.

    Dynamic QR (``url`` given): Point of Initiation ``12``; the Pix key must not be in the
    payload — the PSP's location URL (26-25) replaces it and the charge (cobrança) behind the URL
    carries the key, the amount and the txid, so 62-05 is ``***`` (manual, "QR Code dinâmico").
    """
    name = strip_accents(merchant_name).strip()
    city = strip_accents(merchant_city).strip()
    if not name:
        raise PixError("merchant name is required")
    if not city:
        raise PixError("merchant city is required")
    if len(name) > MAX_NAME_LENGTH:
        raise PixError(f"merchant name has {len(name)} characters; the limit is {MAX_NAME_LENGTH}")
    if len(city) > MAX_CITY_LENGTH:
        raise PixError(f"merchant city has {len(city)} characters; the limit is {MAX_CITY_LENGTH}")
    if url is not None:
        url = url.strip()
        if url.lower().startswith("https://"):
            url = url[len("https://") :]  # the manual stores the URL without the scheme
        if not url:
            raise PixError("URL is empty")
        if key:
            raise PixError("a dynamic BR Code (URL) must not carry a Pix key; give one of the two")
        if txid not in (None, NO_TXID):
            raise PixError("a dynamic BR Code carries its txid at the URL; 62-05 must be '***'")
        poi: str | None = DYNAMIC
    else:
        if not key or not key.strip():
            raise PixError("a static BR Code needs a Pix key (or give --url for a dynamic one)")
        key = key.strip()
        poi = None
    if key is not None and len(key) > MAX_KEY_LENGTH:
        raise PixError(f"Pix key longer than {MAX_KEY_LENGTH} characters")
    if url is not None and len(url) > MAX_URL_LENGTH:
        raise PixError(f"URL longer than {MAX_URL_LENGTH} characters")
    txid = NO_TXID if txid is None or txid == "" else txid
    if txid != NO_TXID and not _TXID.match(txid):
        raise PixError(f"txid must be 1 to 25 letters or digits (or '***'), got {txid!r}")
    if amount is not None:
        if amount <= 0:
            raise PixError("amount must be greater than zero")
        if amount != amount.quantize(CENT):
            raise PixError("amount must have at most 2 decimal places")
        amount = amount.quantize(CENT)
        if len(f"{amount:.2f}") > MAX_AMOUNT_LENGTH:
            raise PixError("amount too large for field 54")
    if description is not None:
        description = description.strip() or None
    if postal_code is not None:
        postal_code = postal_code.strip() or None
    if not re.fullmatch(r"\d{4}", mcc):
        raise PixError(f"MCC must be 4 digits, got {mcc!r}")
    payload = PixPayload(
        merchant_name=name,
        merchant_city=city,
        key=key,
        url=url,
        description=description,
        amount=amount,
        txid=txid,
        point_of_initiation=poi,
        postal_code=postal_code,
        mcc=mcc,
        templates=templates,
    )
    encode(payload)  # enforces the template and payload limits now, not at print time
    return payload


def encode(payload: PixPayload) -> str:
    """Serialises ``payload`` in ascending ID order and appends the CRC (ID 63)."""
    account = "".join(
        tlv(tag, value)
        for tag, value in sorted(
            [
                ("00", payload.gui),
                *([("01", payload.key)] if payload.key is not None else []),
                *([("02", payload.description)] if payload.description is not None else []),
                *([("03", payload.fss)] if payload.fss is not None else []),
                *([("25", payload.url)] if payload.url is not None else []),
                *payload.extra_account_fields,
            ]
        )
    )
    additional = "".join(
        tlv(tag, value)
        for tag, value in sorted([("05", payload.txid), *payload.extra_additional_fields])
    )
    objects: list[Tlv] = [
        ("00", payload.payload_format),
        (payload.account_tag, _checked_template(payload.account_tag, account)),
        ("52", payload.mcc),
        ("53", payload.currency),
        ("58", payload.country),
        ("59", payload.merchant_name),
        ("60", payload.merchant_city),
        ("62", _checked_template("62", additional)),
        *payload.extra_fields,
        *(
            (tag, _checked_template(tag, "".join(tlv(t, v) for t, v in sub)))
            for tag, sub in payload.templates
        ),
    ]
    if payload.point_of_initiation is not None:
        objects.append(("01", payload.point_of_initiation))
    if payload.amount is not None:
        objects.append(("54", f"{payload.amount:.2f}"))
    if payload.postal_code is not None:
        objects.append(("61", payload.postal_code))
    # 00 first, then ascending IDs (EMV MPM §4.7 does not impose an order beyond 00 first and
    # 63 last; ascending order reproduces the BCB examples byte for byte).
    head, *rest = objects
    body = tlv(*head) + "".join(tlv(tag, value) for tag, value in sorted(rest))
    text = body + "6304"
    text += crc_of(text)
    if len(text) > MAX_PAYLOAD_LENGTH:
        raise PixError(f"payload would have {len(text)} characters; the BR Code limit is 512")
    return text


def _checked_template(tag: str, value: str) -> str:
    if len(value) > 99:
        raise PixError(
            f"field {tag} would have {len(value)} characters (limit 99); shorten the key, "
            "description or URL"
        )
    return value
