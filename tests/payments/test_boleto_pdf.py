"""Boleto PDF (ficha de compensação) and its Interleaved 2 of 5 barcode."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from adimple.payments.boleto.banks import Itau
from adimple.payments.boleto.codec import encode, format_linha
from adimple.payments.boleto.itf import itf_decode, itf_elements, itf_svg
from adimple.payments.boleto.pdf import (
    BoletoDocument,
    Party,
    format_tax_id,
    render_html,
    render_pdf,
)

PIX = (
    "00020126580014br.gov.bcb.pix0136123e4567-e12b-12d1-a456-426655440000"
    "5204000053039865802BR5913Fulano de Tal6008BRASILIA62070503***63041D3D"
)


@pytest.fixture(scope="module")
def document() -> BoletoDocument:
    spec = Itau(carteira="109", nosso_numero="12345678", agencia="0810", conta="53678")
    boleto = encode(
        bank_code="341",
        free_field=spec.free_field(),
        amount=Decimal("1234.56"),
        due_date=date(2026, 1, 15),
    )
    return BoletoDocument(
        boleto=boleto,
        beneficiario=Party("Credora Exemplo Ltda", "12345678000195", "Rua Augusta 100, São Paulo"),
        pagador=Party("José da Silva & Filhos", "12345678909", "Av. Brasil 10, Rio de Janeiro"),
        nosso_numero=spec.printed_nosso_numero(),
        agencia_codigo_beneficiario="0810/53678-9",
        numero_documento="CTR-42",
        data_documento=date(2025, 12, 1),
        instrucoes=("Após o vencimento, multa de 2% (CDC art. 52 §1).",),
        pix_payload=PIX,
    )


class TestItf:
    def test_elements_decode_back_and_have_febraban_width(self) -> None:
        barcode = "34191432900000000001751234567840810536789000"
        elements = itf_elements(barcode)
        assert itf_decode(elements) == barcode
        # 44 digits × 9 modules + start (4) + stop (5) = 405 modules of 0.254 mm ≈ 103 mm
        assert sum(width for _, width in elements) == 405

    def test_svg_has_one_rect_per_bar(self) -> None:
        svg = itf_svg("12345678")
        assert svg.startswith("<svg") and svg.count("<rect") == 1 + 2 + 4 * 5 + 2

    def test_odd_digit_count_refused(self) -> None:
        with pytest.raises(ValueError):
            itf_elements("123")


class TestPdf:
    def test_html_shows_what_the_ficha_requires(self, document: BoletoDocument) -> None:
        html = render_html(document)
        assert format_linha(document.boleto.linha_digitavel) in html
        assert "341-7" in html
        assert "12.345.678/0001-95" in html and "123.456.789-09" in html
        assert "Credora Exemplo Ltda" in html and "Rua Augusta 100" in html
        assert "José da Silva &amp; Filhos" in html  # escaped
        assert "15/01/2026" in html and "1.234,56" in html
        assert "109/12345678-" in html
        assert "data:image/svg+xml;base64," in html
        assert "Ficha de Compensação" in html and "<svg" in html  # Pix QR inline

    def test_pdf_bytes(self, document: BoletoDocument) -> None:
        pdf = render_pdf(document)
        assert pdf.startswith(b"%PDF") and len(pdf) > 5000

    def test_cli(self, run_cli, tmp_path: Path) -> None:
        source = tmp_path / "boleto.json"
        source.write_text(
            json.dumps(
                {
                    "bank": "237",
                    "amount": "99.90",
                    "due_date": "2026-02-10",
                    "bank_fields": {
                        "agencia": "1172",
                        "carteira": "09",
                        "nosso_numero": "123",
                        "conta": "403005",
                    },
                    "beneficiario": {"name": "Credora", "document": "12345678000195"},
                    "pagador": {"name": "Maria", "document": "12345678909"},
                }
            ),
            encoding="utf-8",
        )
        out = tmp_path / "boleto.pdf"
        result = run_cli("boleto", "pdf", str(source), "--out", str(out))
        assert result.exit_code == 0, result.stderr
        assert out.read_bytes().startswith(b"%PDF")
        assert len(result.json()["linha_digitavel"]) == 47

    def test_cli_invalid_document(self, run_cli, tmp_path: Path) -> None:
        source = tmp_path / "bad.json"
        source.write_text('{"bank": "237", "amount": "1", "free_field": "1"}', encoding="utf-8")
        run_cli("boleto", "pdf", str(source), "--out", str(tmp_path / "x.pdf")).assert_invalid()


def test_format_tax_id() -> None:
    assert format_tax_id("12345678909") == "123.456.789-09"
    assert format_tax_id("12.ABC.345/01DE-35") == "12.ABC.345/01DE-35"
    assert format_tax_id("passport X") == "passport X"


@pytest.mark.parametrize(
    "content",
    [
        "[1, 2]",
        '{"code": "34191377000000135001750025828170810536789000"}',
        '{"code": "34191377000000135001750025828170810536789000", "pix_payload": "000201",'
        ' "beneficiario": {"name": "B", "document": "1"},'
        ' "pagador": {"name": "P", "document": "2"}}',
        '{"bank": "341", "amount": 10, "bank_fields": {"carteira": 109}}',
    ],
)
def test_cli_rejects_bad_documents_with_exit_2(run_cli, tmp_path: Path, content: str) -> None:
    source = tmp_path / "doc.json"
    source.write_text(content, encoding="utf-8")
    run_cli("boleto", "pdf", str(source), "--out", str(tmp_path / "x.pdf")).assert_invalid()


def test_numbers_in_json_bank_fields_are_accepted(run_cli, tmp_path: Path) -> None:
    source = tmp_path / "doc.json"
    source.write_text(
        json.dumps(
            {
                "bank": "756",
                "amount": 50,
                "due_date": "2026-05-04",
                "bank_fields": {"cooperativa": 4327, "codigo_cliente": 229385, "nosso_numero": 2},
                "beneficiario": {"name": "Credora", "document": "12345678000195"},
                "pagador": {"name": "Maria", "document": "12345678909"},
            }
        ),
        encoding="utf-8",
    )
    result = run_cli("boleto", "pdf", str(source), "--out", str(tmp_path / "b.pdf"))
    assert result.exit_code == 0, result.stderr
