"""Boleto PDF: the FEBRABAN "ficha de compensação" on A4, rendered with WeasyPrint.

Pure: :func:`render_pdf` takes a :class:`BoletoDocument` and returns the PDF bytes; nothing is
read from the database. The layout follows FEBRABAN's *Especificações Técnicas para Confecção de
Boleto de Pagamento* (recibo do pagador on top, ficha de compensação below, barcode at the
bottom left) and shows the beneficiário's name, CPF/CNPJ and address as the CDC art. 42-A asks
of every collection document.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from adimple.kit.i18n import brl, short_date
from adimple.payments.boleto.banks import BANK_NAMES, bank_dv, bank_free_field
from adimple.payments.boleto.codec import Boleto, decode, encode, format_linha
from adimple.payments.boleto.itf import itf_svg

DEFAULT_LOCAL_PAGAMENTO = "Pagável em qualquer banco, lotérica ou app bancário até o vencimento"

_env = Environment(
    loader=PackageLoader("adimple.payments.boleto", "templates"),
    autoescape=select_autoescape(["html"]),
)


@dataclass(frozen=True)
class Party:
    """Beneficiário, pagador or sacador/avalista as printed."""

    name: str
    document: str
    address: str = ""


@dataclass(frozen=True)
class BoletoDocument:
    """Everything the ficha de compensação shows (no database objects)."""

    boleto: Boleto
    beneficiario: Party
    pagador: Party
    nosso_numero: str
    agencia_codigo_beneficiario: str
    numero_documento: str = ""
    data_documento: date | None = None
    data_processamento: date | None = None
    especie_documento: str = "DM"
    aceite: str = "N"
    carteira: str = ""
    local_pagamento: str = DEFAULT_LOCAL_PAGAMENTO
    instrucoes: tuple[str, ...] = ()
    sacador_avalista: Party | None = None
    bank_name: str | None = None
    pix_payload: str | None = None
    """Optional BR Code printed as a QR next to the instructions (boleto híbrido)."""


def format_tax_id(value: str) -> str:
    """CPF ``000.000.000-00`` or CNPJ ``00.000.000/0000-00`` (also the alphanumeric CNPJ);
    anything else is returned as given."""
    raw = re.sub(r"[.\-/\s]", "", value).upper()
    if re.fullmatch(r"\d{11}", raw):
        return f"{raw[:3]}.{raw[3:6]}.{raw[6:9]}-{raw[9:]}"
    if re.fullmatch(r"[0-9A-Z]{12}\d{2}", raw):
        return f"{raw[:2]}.{raw[2:5]}.{raw[5:8]}/{raw[8:12]}-{raw[12:]}"
    return value


def _printed(party: Party) -> Party:
    return Party(name=party.name, document=format_tax_id(party.document), address=party.address)


def render_html(document: BoletoDocument) -> str:
    """The HTML that :func:`render_pdf` prints (useful for previews and tests)."""
    boleto = document.boleto
    barcode_svg = itf_svg(boleto.barcode)
    pix_qr_svg = None
    if document.pix_payload:
        from adimple.payments.pix.qr import qr_svg_inline

        pix_qr_svg = qr_svg_inline(document.pix_payload, scale=2, border=1)
    context: dict[str, Any] = {
        "bank_name": document.bank_name or BANK_NAMES.get(boleto.bank_code, boleto.bank_code),
        "bank_code": boleto.bank_code,
        "bank_dv": bank_dv(boleto.bank_code),
        "linha_formatada": format_linha(boleto.linha_digitavel),
        "barcode": boleto.barcode,
        "barcode_src": "data:image/svg+xml;base64,"
        + base64.b64encode(barcode_svg.encode("ascii")).decode("ascii"),
        "vencimento": "Contra-apresentação"
        if boleto.due_date is None
        else short_date(boleto.due_date),
        "valor": brl(boleto.amount) if boleto.amount else "",
        "beneficiario": _printed(document.beneficiario),
        "pagador": _printed(document.pagador),
        "sacador_avalista": _printed(document.sacador_avalista)
        if document.sacador_avalista
        else None,
        "nosso_numero": document.nosso_numero,
        "agencia_codigo_beneficiario": document.agencia_codigo_beneficiario,
        "numero_documento": document.numero_documento,
        "data_documento": short_date(document.data_documento) if document.data_documento else "",
        "data_processamento": short_date(document.data_processamento)
        if document.data_processamento
        else "",
        "especie_documento": document.especie_documento,
        "aceite": document.aceite,
        "carteira": document.carteira,
        "local_pagamento": document.local_pagamento,
        "instrucoes": document.instrucoes,
        "pix_qr_svg": pix_qr_svg,
    }
    return _env.get_template("ficha.html").render(**context)


def render_pdf(document: BoletoDocument) -> bytes:
    """The boleto as an A4 PDF (WeasyPrint; ~0.2 s a page, so callers cache the bytes)."""
    from weasyprint import HTML

    pdf = HTML(string=render_html(document)).write_pdf()
    assert pdf is not None
    return bytes(pdf)


def document_from_dict(data: dict[str, Any]) -> BoletoDocument:
    """Builds a :class:`BoletoDocument` from plain JSON (used by ``adimple boleto pdf``).

    Either ``"code"`` (barcode or linha digitável, with optional ``"as_of"``) or ``"bank"``,
    ``"amount"``, optional ``"due_date"`` and ``"free_field"`` or ``"bank_fields"`` (the same
    names as ``adimple boleto encode``). Parties are ``{"name", "document", "address"}``.
    """
    if "code" in data:
        as_of = date.fromisoformat(data["as_of"]) if data.get("as_of") else None
        boleto = decode(str(data["code"]), as_of=as_of)
        nosso_numero = str(data.get("nosso_numero", ""))
    else:
        bank = str(data["bank"])
        due = date.fromisoformat(data["due_date"]) if data.get("due_date") else None
        if "free_field" in data:
            free = str(data["free_field"])
            nosso_numero = str(data.get("nosso_numero", ""))
        else:
            spec = bank_free_field(bank, data.get("bank_fields", {}))
            free = spec.free_field()
            nosso_numero = str(data.get("nosso_numero_impresso") or spec.printed_nosso_numero())
        boleto = encode(
            bank_code=bank, free_field=free, amount=Decimal(str(data["amount"])), due_date=due
        )

    def party(key: str) -> Party | None:
        value = data.get(key)
        if value is None:
            return None
        return Party(
            name=str(value["name"]),
            document=str(value["document"]),
            address=str(value.get("address", "")),
        )

    pix_payload = data.get("pix_payload")
    if pix_payload is not None:
        from adimple.payments.pix.codec import decode as decode_pix

        decode_pix(str(pix_payload))  # PixError (a ValueError) now, not at render time
    beneficiario, pagador = party("beneficiario"), party("pagador")
    if beneficiario is None or pagador is None:
        raise ValueError("beneficiario and pagador are required")
    return BoletoDocument(
        boleto=boleto,
        beneficiario=beneficiario,
        pagador=pagador,
        sacador_avalista=party("sacador_avalista"),
        nosso_numero=nosso_numero,
        agencia_codigo_beneficiario=str(data.get("agencia_codigo_beneficiario", "")),
        numero_documento=str(data.get("numero_documento", "")),
        data_documento=date.fromisoformat(data["data_documento"])
        if data.get("data_documento")
        else None,
        data_processamento=date.fromisoformat(data["data_processamento"])
        if data.get("data_processamento")
        else None,
        especie_documento=str(data.get("especie_documento", "DM")),
        aceite=str(data.get("aceite", "N")),
        carteira=str(data.get("carteira") or data.get("bank_fields", {}).get("carteira") or ""),
        local_pagamento=str(data.get("local_pagamento", DEFAULT_LOCAL_PAGAMENTO)),
        instrucoes=tuple(str(line) for line in data.get("instrucoes", ())),
        bank_name=data.get("bank_name"),
        pix_payload=None if pix_payload is None else str(pix_payload),
    )
