"""CLI for the payment codecs: ``adimple pix|boleto|cnab`` (contracts in DESIGN §6).

Every command prints JSON on stdout and exits 0, or prints one line on stderr and exits 2 on
invalid input (``adimple.kit.console``). The main CLI mounts the sub-apps with :func:`register`.
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import typer

from adimple.kit.console import die, print_json
from adimple.kit.money import AmountError, parse_amount

pix_app = typer.Typer(help="PIX BR Code: encode and decode payloads.", no_args_is_help=True)
boleto_app = typer.Typer(help="Boleto: barcode and linha digitável.", no_args_is_help=True)
cnab_app = typer.Typer(help="CNAB 240/400 return files.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Mounts ``pix``, ``boleto`` and ``cnab`` on the main ``adimple`` app."""
    app.add_typer(pix_app, name="pix")
    app.add_typer(boleto_app, name="boleto")
    app.add_typer(cnab_app, name="cnab")


def _amount(text: str | None) -> Decimal | None:
    if text is None:
        return None
    try:
        return parse_amount(text)
    except AmountError as exc:
        die(f"invalid amount: {exc}")


def _date(text: str | None, option: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        die(f"{option} must be a date YYYY-MM-DD, got {text!r}")


# ---------------------------------------------------------------------------------------------
# pix
# ---------------------------------------------------------------------------------------------


@pix_app.command("decode")
def pix_decode(payload: Annotated[str, typer.Argument(help="BR Code (Pix Copia e Cola).")]) -> None:
    """Validates a BR Code and prints its fields."""
    from adimple.payments.pix.codec import PixError, decode

    try:
        print_json(decode(payload).as_contract())
    except PixError as exc:
        die(f"invalid PIX payload: {exc}")


@pix_app.command("encode")
def pix_encode(
    name: Annotated[str, typer.Option("--name", help="Merchant name (≤ 25, accents removed).")],
    city: Annotated[str, typer.Option("--city", help="Merchant city (≤ 15, accents removed).")],
    key: Annotated[str | None, typer.Option("--key", help="Pix key (static QR).")] = None,
    amount: Annotated[str | None, typer.Option("--amount", help="Amount, e.g. 10.50.")] = None,
    txid: Annotated[str | None, typer.Option("--txid", help="[A-Za-z0-9]{1,25}.")] = None,
    description: Annotated[
        str | None, typer.Option("--description", help="Free text shown to the payer.")
    ] = None,
    url: Annotated[
        str | None, typer.Option("--url", help="PSP location URL: makes a dynamic QR.")
    ] = None,
) -> None:
    """Builds a BR Code: static with --key, dynamic (point of initiation 12) with --url."""
    from adimple.payments.pix.codec import PixError, build, encode

    try:
        payload = build(
            merchant_name=name,
            merchant_city=city,
            key=key,
            url=url,
            amount=_amount(amount),
            txid=txid,
            description=description,
        )
        print_json({"payload": encode(payload)})
    except PixError as exc:
        die(f"cannot build PIX payload: {exc}")


@pix_app.command("qr")
def pix_qr(
    payload: Annotated[str, typer.Argument(help="BR Code to draw.")],
    out: Annotated[Path, typer.Option("--out", help="Output file, .svg or .png.")],
) -> None:
    """Writes the QR code of a (valid) BR Code as SVG or PNG."""
    from adimple.payments.pix.codec import PixError
    from adimple.payments.pix.qr import write_qr

    if out.suffix.lower() not in (".svg", ".png"):
        die(f"--out must end in .svg or .png, got {out.name!r}")
    try:
        write_qr(payload, out)
    except PixError as exc:
        die(f"invalid PIX payload: {exc}")
    except OSError as exc:
        die(f"cannot write {out}: {exc}")
    print_json(
        {"out": str(out), "format": out.suffix.lower().lstrip("."), "bytes": out.stat().st_size}
    )


# ---------------------------------------------------------------------------------------------
# boleto
# ---------------------------------------------------------------------------------------------


@boleto_app.command("decode")
def boleto_decode(
    code: Annotated[str, typer.Argument(help="Barcode (44) or linha digitável (47 digits).")],
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="Read the due factor nearest this date (default today)."),
    ] = None,
) -> None:
    """Checks and decodes a boleto barcode or linha digitável."""
    from adimple.payments.boleto.codec import BoletoError, decode

    reference = _date(as_of, "--as-of")
    try:
        print_json(decode(code, as_of=reference).as_contract())
    except BoletoError as exc:
        die(f"invalid boleto: {exc}")


@boleto_app.command("explain")
def boleto_explain(
    code: Annotated[str, typer.Argument(help="Barcode (44) or linha digitável (47 digits).")],
    as_of: Annotated[str | None, typer.Option("--as-of", help="Reference date.")] = None,
) -> None:
    """Decodes a boleto and reads the bank's free field (nosso número, agência, carteira…)."""
    from adimple.payments.boleto.banks import explain_free_field
    from adimple.payments.boleto.codec import BoletoError, decode

    reference = _date(as_of, "--as-of")
    try:
        boleto = decode(code, as_of=reference)
    except BoletoError as exc:
        die(f"invalid boleto: {exc}")
    result: dict[str, Any] = boleto.as_contract()
    try:
        result["bank_fields"] = explain_free_field(boleto.bank_code, boleto.free_field).as_dict()
        result["bank_fields_error"] = None
    except BoletoError as exc:
        result["bank_fields"] = None
        result["bank_fields_error"] = str(exc)
    print_json(result)


@boleto_app.command("encode")
def boleto_encode(
    bank: Annotated[str, typer.Option("--bank", help="Bank code: 001 033 041 104 237 341 756.")],
    amount: Annotated[str, typer.Option("--amount", help="Amount, e.g. 135.00.")],
    due_date: Annotated[
        str | None, typer.Option("--due-date", help="YYYY-MM-DD; omit for no due date.")
    ] = None,
    free_field: Annotated[
        str | None, typer.Option("--free-field", help="Raw 25-digit campo livre (any bank).")
    ] = None,
    agencia: Annotated[str | None, typer.Option("--agencia")] = None,
    conta: Annotated[str | None, typer.Option("--conta")] = None,
    carteira: Annotated[str | None, typer.Option("--carteira")] = None,
    nosso_numero: Annotated[
        str | None, typer.Option("--nosso-numero", help="Sequence, without check digit.")
    ] = None,
    convenio: Annotated[str | None, typer.Option("--convenio", help="BB convênio.")] = None,
    codigo_beneficiario: Annotated[
        str | None, typer.Option("--codigo-beneficiario", help="Caixa, Santander, Banrisul.")
    ] = None,
    codigo_cliente: Annotated[
        str | None, typer.Option("--codigo-cliente", help="Sicoob; Itaú special carteiras.")
    ] = None,
    cooperativa: Annotated[str | None, typer.Option("--cooperativa", help="Sicoob.")] = None,
    modalidade: Annotated[str | None, typer.Option("--modalidade", help="Caixa, Sicoob.")] = None,
    parcela: Annotated[str | None, typer.Option("--parcela", help="Sicoob.")] = None,
    emissao: Annotated[str | None, typer.Option("--emissao", help="Caixa.")] = None,
    iof: Annotated[str | None, typer.Option("--iof", help="Santander.")] = None,
    produto: Annotated[str | None, typer.Option("--produto", help="Banrisul.")] = None,
    seu_numero: Annotated[str | None, typer.Option("--seu-numero", help="Itaú.")] = None,
    nosso_numero_livre: Annotated[
        bool, typer.Option("--nosso-numero-livre", help="BB convênio 6, 17-digit nosso número.")
    ] = False,
) -> None:
    """Builds a boleto (barcode + linha digitável) from the bank's fields or a raw free field."""
    from adimple.payments.boleto.banks import bank_free_field
    from adimple.payments.boleto.codec import BoletoError, encode

    due = _date(due_date, "--due-date")
    try:
        value = parse_amount(amount)
    except AmountError as exc:
        die(f"invalid amount: {exc}")
    params: dict[str, object] = {
        "agencia": agencia,
        "conta": conta,
        "carteira": carteira,
        "nosso_numero": nosso_numero,
        "convenio": convenio,
        "codigo_beneficiario": codigo_beneficiario,
        "codigo_cliente": codigo_cliente,
        "cooperativa": cooperativa,
        "modalidade": modalidade,
        "parcela": parcela,
        "emissao": emissao,
        "iof": iof,
        "produto": produto,
        "seu_numero": seu_numero,
        "nosso_numero_livre": nosso_numero_livre or None,
    }
    try:
        if free_field is not None:
            if any(v is not None for v in params.values()):
                die("give either --free-field or the bank fields, not both")
            field_digits = free_field
        else:
            field_digits = bank_free_field(bank, params).free_field()
        boleto = encode(bank_code=bank, free_field=field_digits, amount=value, due_date=due)
    except BoletoError as exc:
        die(f"cannot build boleto: {exc}")
    print_json(boleto.as_contract())


@boleto_app.command("pdf")
def boleto_pdf(
    source: Annotated[Path, typer.Argument(help="JSON file with the boleto document fields.")],
    out: Annotated[Path, typer.Option("--out", help="Output PDF file.")],
) -> None:
    """Renders the ficha de compensação (A4 PDF) from a JSON description (see docs/payments.md)."""
    from adimple.payments.boleto.codec import BoletoError
    from adimple.payments.boleto.pdf import document_from_dict, render_pdf

    try:
        data = json.loads(source.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        die(f"cannot read {source}: {exc}")
    try:
        document = document_from_dict(data)
    except (BoletoError, ValueError, TypeError, KeyError, AttributeError) as exc:
        die(f"invalid boleto document {source}: {exc}")
    pdf = render_pdf(document)
    try:
        out.write_bytes(pdf)
    except OSError as exc:
        die(f"cannot write {out}: {exc}")
    print_json(
        {"out": str(out), "bytes": len(pdf), "linha_digitavel": document.boleto.linha_digitavel}
    )


# ---------------------------------------------------------------------------------------------
# cnab
# ---------------------------------------------------------------------------------------------


@cnab_app.command("parse")
def cnab_parse(file: Annotated[Path, typer.Argument(help="CNAB 240 or 400 retorno file.")]) -> None:
    """Reads a retorno de cobrança: one record per title movement, in file order."""
    from adimple.payments.cnab.parser import CnabError, parse_file

    try:
        print_json(parse_file(file).as_contract())
    except CnabError as exc:
        die(f"invalid CNAB file: {exc}")
