"""CNAB 240/400 retorno de cobrança parser (pure: bytes in, dataclasses out).

The layout is told by line length (240 or 400 characters; lines whose trailing blanks were
stripped are padded back) and by the header record; the bank by the header (CNAB 240: positions
1-3; CNAB 400: positions 77-79). Files may use CRLF or LF, UTF-8 or Latin-1. One record is
produced per title movement, in file order: a CNAB 240 Segment T with the Segment U that follows
it, or a CNAB 400 detail record.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from adimple.kit.money import money_str
from adimple.payments.cnab.fields import CnabFieldError, Field
from adimple.payments.cnab.layouts import (
    CNAB240_BANKS,
    CNAB240_CANCEL_MOTIVES,
    CNAB240_KINDS,
    CNAB240_LENGTH,
    CNAB240_SEGMENT_T,
    CNAB240_SEGMENT_U,
    CNAB400_LAYOUTS,
    CNAB400_LENGTH,
    Kind,
)

CONTRACT_MONEY = (
    "valor_titulo",
    "valor_pago",
    "valor_tarifa",
    "valor_juros",
    "valor_desconto",
    "valor_abatimento",
    "valor_liquido",
)


class CnabError(ValueError):
    """A file that is not a retorno we can read; the message names the file and line."""


@dataclass(frozen=True)
class CnabRecord:
    """One title movement (registro de retorno de um título)."""

    line: int
    nosso_numero: str
    codigo_ocorrencia: str
    kind: Kind | None
    data_ocorrencia: date | None = None
    data_credito: date | None = None
    valor_titulo: Decimal | None = None
    valor_pago: Decimal | None = None
    valor_tarifa: Decimal | None = None
    valor_juros: Decimal | None = None
    valor_desconto: Decimal | None = None
    valor_abatimento: Decimal | None = None
    valor_liquido: Decimal | None = None
    seu_numero: str | None = None
    uso_empresa: str | None = None
    motivo: str | None = None

    def as_contract(self) -> dict[str, Any]:
        """The record of ``adimple cnab parse`` (DESIGN §6) plus kind/seu_numero/uso_empresa."""
        result: dict[str, Any] = {
            "nosso_numero": self.nosso_numero,
            "codigo_ocorrencia": self.codigo_ocorrencia,
            "data_ocorrencia": _iso(self.data_ocorrencia),
            "data_credito": _iso(self.data_credito),
        }
        for name in CONTRACT_MONEY:
            value: Decimal | None = getattr(self, name)
            result[name] = None if value is None else money_str(value)
        result["kind"] = None if self.kind is None else self.kind.value
        result["seu_numero"] = self.seu_numero
        result["uso_empresa"] = self.uso_empresa
        return result


@dataclass(frozen=True)
class CnabFile:
    layout: str  # "cnab240" | "cnab400"
    bank_code: str
    bank_name: str
    records: tuple[CnabRecord, ...]

    def as_contract(self) -> dict[str, Any]:
        return {
            "layout": self.layout,
            "bank_code": self.bank_code,
            "records": [record.as_contract() for record in self.records],
        }


def _iso(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


# ---------------------------------------------------------------------------------------------
# Entry points
# ---------------------------------------------------------------------------------------------


def parse_file(path: Path) -> CnabFile:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CnabError(f"{path}: cannot read: {exc.strerror or exc}") from None
    return parse_bytes(data, source=str(path))


def parse_bytes(data: bytes, *, source: str = "<input>") -> CnabFile:
    """Parses a retorno file. Raises :class:`CnabError` naming ``source`` and the line."""
    lines = _split_lines(_decode(data))
    numbered = [(number, text) for number, text in enumerate(lines, start=1) if text.strip()]
    if not numbered:
        raise CnabError(f"{source}: empty file")
    longest = max(len(text) for _, text in numbered)
    header_number, header = numbered[0]
    looks_400 = bool(re.match(r"0[12]", header)) and header[2:9].upper() in ("RETORNO", "REMESSA")
    looks_240 = header[3:8] == "00000"
    if longest > CNAB400_LENGTH:
        number, text = next((n, t) for n, t in numbered if len(t) > CNAB400_LENGTH)
        raise CnabError(
            f"{source}:{number}: line has {len(text)} characters; CNAB lines have 240 or 400"
        )
    if longest > CNAB240_LENGTH or (looks_400 and not looks_240):
        if not looks_400:
            raise CnabError(
                f"{source}:{header_number}: 400-character lines but the first record is not a "
                "CNAB 400 header ('02RETORNO…')"
            )
        return _parse_400(numbered, source)
    if looks_240:
        return _parse_240(numbered, source)
    raise CnabError(
        f"{source}:{header_number}: not a CNAB retorno: the first record is neither a CNAB 240 "
        "file header (bank, lote 0000, type 0) nor a CNAB 400 header ('02RETORNO')"
    )


def _decode(data: bytes) -> str:
    """UTF-8 when the bytes are valid UTF-8, else Latin-1 (what bank files mostly are)."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _split_lines(text: str) -> list[str]:
    text = text.rstrip("\x1a")  # DOS end-of-file marker some bank systems append
    separator = "\n" if "\n" in text else "\r"
    return [line.rstrip("\r") for line in text.split(separator)]


def _read(fields: tuple[Field, ...], line: str, source: str, number: int) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for spec in fields:
        try:
            values[spec.name] = spec.read(line)
        except CnabFieldError as exc:
            raise CnabError(f"{source}:{number}: {exc}") from None
    return values


# ---------------------------------------------------------------------------------------------
# CNAB 240 (FEBRABAN)
# ---------------------------------------------------------------------------------------------


def _parse_240(numbered: list[tuple[int, str]], source: str) -> CnabFile:
    lines = [(number, text.ljust(CNAB240_LENGTH)) for number, text in numbered]
    header_number, header = lines[0]
    bank_code = header[0:3]
    if bank_code not in CNAB240_BANKS:
        raise CnabError(f"{source}:{header_number}: unknown bank {bank_code!r} in the header")
    # FEBRABAN G015, header de arquivo position 143: 1 = remessa, 2 = retorno. Only an explicit
    # remessa is refused: a few bank systems leave the position blank in their retornos.
    if header[142] == "1":
        raise CnabError(f"{source}:{header_number}: this is a remessa file, not a retorno")
    records: list[CnabRecord] = []
    pending: tuple[int, dict[str, Any]] | None = None
    trailer_seen = False
    for number, line in lines[1:]:
        if line[0:3] != bank_code:
            raise CnabError(
                f"{source}:{number}: bank {line[0:3]!r} differs from the header's {bank_code}"
            )
        record_type = line[7]
        if trailer_seen:
            raise CnabError(f"{source}:{number}: record after the file trailer")
        if record_type == "1":  # header de lote: G025 tipo de serviço 01 = cobrança
            if line[9:11] != "01":
                raise CnabError(
                    f"{source}:{number}: lote of service {line[9:11]!r}, not cobrança (01)"
                )
        elif record_type == "3":
            segment = line[13]
            if segment == "T":
                if pending is not None:
                    records.append(_title_240(pending, None))
                pending = (number, _read(CNAB240_SEGMENT_T, line, source, number))
            elif segment == "U":
                if pending is None:
                    raise CnabError(f"{source}:{number}: Segment U without a Segment T before it")
                values = _read(CNAB240_SEGMENT_U, line, source, number)
                records.append(_title_240(pending, values))
                pending = None
            elif segment in "ABJO":
                raise CnabError(
                    f"{source}:{number}: Segment {segment} belongs to pagamentos, not to a "
                    "retorno de cobrança"
                )
            # other cobrança segments (Y, W, …) carry optional data we do not need
        elif record_type == "5":  # trailer de lote
            if pending is not None:
                records.append(_title_240(pending, None))
                pending = None
        elif record_type == "9":
            if pending is not None:
                records.append(_title_240(pending, None))
                pending = None
            trailer_seen = True
        elif record_type == "0":
            raise CnabError(f"{source}:{number}: a second file header")
        else:
            raise CnabError(f"{source}:{number}: unknown CNAB 240 record type {record_type!r}")
    if not trailer_seen:
        raise CnabError(f"{source}: no file trailer (record type 9): the file looks truncated")
    return CnabFile("cnab240", bank_code, CNAB240_BANKS[bank_code], tuple(records))


def _title_240(t: tuple[int, dict[str, Any]], u: dict[str, Any] | None) -> CnabRecord:
    number, values = t
    code = values["codigo_ocorrencia"]
    kind = CNAB240_KINDS.get(code)
    motives = {values["motivo"][i : i + 2] for i in range(0, len(values["motivo"]), 2)}
    if code == "09" and motives & CNAB240_CANCEL_MOTIVES:
        kind = Kind.CANCELLED
    return CnabRecord(line=number, kind=kind, **values, **(u or {}))


# ---------------------------------------------------------------------------------------------
# CNAB 400 (one table per bank)
# ---------------------------------------------------------------------------------------------


def _parse_400(numbered: list[tuple[int, str]], source: str) -> CnabFile:
    lines = [(number, text.ljust(CNAB400_LENGTH)) for number, text in numbered]
    header_number, header = lines[0]
    if header[1] == "1" or header[2:9].upper() == "REMESSA":
        raise CnabError(f"{source}:{header_number}: this is a remessa file, not a retorno")
    bank_code = header[76:79]
    layout = CNAB400_LAYOUTS.get(bank_code)
    if layout is None:
        known = ", ".join(sorted(CNAB400_LAYOUTS))
        raise CnabError(
            f"{source}:{header_number}: no CNAB 400 layout for bank {bank_code!r} "
            f"(header positions 77-79; known: {known})"
        )
    records: list[CnabRecord] = []
    trailer_seen = False
    for number, line in lines[1:]:
        record_type = line[0]
        if trailer_seen:
            raise CnabError(f"{source}:{number}: record after the trailer (type 9)")
        if record_type in layout.detail_types:
            values = _read(layout.fields, line, source, number)
            code = values["codigo_ocorrencia"]
            records.append(CnabRecord(line=number, kind=layout.kinds.get(code), **values))
        elif record_type in layout.unsupported_types:
            raise CnabError(f"{source}:{number}: {layout.unsupported_types[record_type]}")
        elif record_type == "9":
            trailer_seen = True
        elif record_type == "0":
            raise CnabError(f"{source}:{number}: a second header record")
        elif not record_type.isdigit():
            raise CnabError(f"{source}:{number}: unknown record type {record_type!r}")
        # other numeric types (2 PIX/boleto híbrido, 3 rateio, 4, 5 …) are not title movements
    if not trailer_seen:
        raise CnabError(f"{source}: no trailer record (type 9): the file looks truncated")
    return CnabFile("cnab400", bank_code, layout.bank_name, tuple(records))
