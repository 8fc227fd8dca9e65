"""Billing service on both databases: amounts and due dates, codes that decode back, nosso
número allocation, reuse of documents, static PIX fallback, settings validation, isolation."""

from __future__ import annotations

import re
import uuid
from datetime import date
from decimal import Decimal

import pytest
from billing_helpers import PIX, configure, customer, receivable
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from adimple.charges.calculator import quote_installment
from adimple.charges.policy import Policy
from adimple.charges.service import load_index_book, save_policy
from adimple.kit.calendar import add_bank_business_days
from adimple.kit.errors import NotFound
from adimple.kit.money import quantize
from adimple.payments.billing import service
from adimple.payments.billing.models import BillingReference, ChargeDocument, ChargeKind
from adimple.payments.billing.schemas import BillingSettingsInput
from adimple.payments.boleto import decode as decode_boleto
from adimple.payments.boleto.banks import explain_free_field
from adimple.payments.boleto.pdf import render_html
from adimple.payments.pix import decode as decode_pix
from adimple.payments.pix.codec import crc_of
from adimple.portfolio.models import ReceivableStatus
from adimple.tenancy.service import create_tenant

D = Decimal
TODAY = date(2026, 11, 23)  # a Monday


def instructions(session: Session, tenant, row, as_of: date = TODAY):  # type: ignore[no-untyped-def]
    return service.payment_instructions(
        session, tenant_id=tenant.id, receivable_id=row.id, as_of=as_of
    )


class TestNotYetDue:
    def test_keeps_due_date_and_amount_with_fine_and_interest_instructions(
        self, session: Session, tenant
    ) -> None:
        configure(session, tenant)
        maria = customer(session, tenant)
        row = receivable(session, tenant, maria, due=date(2026, 12, 10), amount="1234.56")
        found = instructions(session, tenant, row)
        data = found.as_contract()
        assert data["overdue"] is False
        assert data["due_date"] == "2026-12-10"
        assert data["amount"] == "1234.56"
        assert data["after_due"] == {
            "fine_percent": "2",
            "interest_monthly_percent": "1.00",
            "interest_per_day": None,
        }
        assert "multa de 2%" in data["instructions"][0]
        boleto = decode_boleto(data["boleto"]["linha_digitavel"], as_of=TODAY)
        assert boleto.amount == D("1234.56") and boleto.due_date == date(2026, 12, 10)
        assert boleto.barcode == data["boleto"]["barcode"]
        info = explain_free_field("341", boleto.free_field)
        assert info.nosso_numero.startswith("109/00000001-")
        assert data["creditor"]["name"] == "Loja Exemplo Comércio Ltda"

    def test_static_pix_when_no_psp(self, session: Session, tenant) -> None:
        configure(session, tenant)
        row = receivable(session, tenant, customer(session, tenant), due=date(2026, 12, 10))
        data = instructions(session, tenant, row).as_contract()
        pix = data["pix"]
        assert pix["kind"] == "static"
        payload = decode_pix(pix["br_code"])  # validates the CRC and every field
        assert payload.crc == crc_of(pix["br_code"][:-4])
        assert payload.key == PIX["key"]
        assert payload.amount == D("1234.56")
        assert payload.txid == pix["txid"] == row.pix_txid
        assert re.fullmatch(r"[0-9a-f]{25}", payload.txid)
        assert payload.merchant_city == "Sao Paulo"
        assert pix["expires_on"] == "2026-12-10"

    def test_qr_svg_on_demand(self, session: Session, tenant) -> None:
        configure(session, tenant)
        row = receivable(session, tenant, customer(session, tenant), due=date(2026, 12, 10))
        svg = instructions(session, tenant, row).pix_qr_svg()
        assert svg is not None and svg.startswith("<svg")

    def test_weekend_due_date_is_not_overdue_on_the_next_business_day(
        self, session: Session, tenant
    ) -> None:
        configure(session, tenant)
        # 2026-11-21 is a Saturday: paying on Monday 23 carries no charges (DESIGN §5).
        row = receivable(session, tenant, customer(session, tenant), due=date(2026, 11, 21))
        data = instructions(session, tenant, row, as_of=date(2026, 11, 23)).as_contract()
        assert data["overdue"] is False and data["amount"] == "1234.56"


class TestOverdue:
    def test_new_due_date_and_updated_amount_match_a_charges_quote(
        self, session: Session, tenant
    ) -> None:
        configure(session, tenant)
        maria = customer(session, tenant)
        row = receivable(session, tenant, maria, due=date(2026, 6, 10), amount="1000.00")
        as_of = date(2026, 9, 15)
        data = instructions(session, tenant, row, as_of=as_of).as_contract()
        new_due = add_bank_business_days(as_of, 3)
        quote = quote_installment(
            principal=D("1000.00"),
            due_date=date(2026, 6, 10),
            as_of=new_due,
            consumer=True,
            indices=load_index_book(session),
        )
        assert data["overdue"] is True
        assert data["due_date"] == new_due.isoformat() == "2026-09-18"
        assert data["amount"] == f"{quote.total:.2f}"
        assert data["breakdown"]["fine"] == f"{quote.fine:.2f}"
        assert data["breakdown"]["interest"] == f"{quote.interest:.2f}"
        assert data["breakdown"]["correction"] == f"{quote.correction:.2f}"
        assert quote.fine > 0 and quote.interest > 0
        # The multa is inside the amount: after the new due date only juros per day.
        per_day = quantize(quote.corrected_principal / 3000)
        assert data["after_due"] == {
            "fine_percent": "0.00",
            "interest_monthly_percent": None,
            "interest_per_day": f"{per_day:.2f}",
        }
        boleto = decode_boleto(data["boleto"]["linha_digitavel"], as_of=as_of)
        assert boleto.amount == quote.total and boleto.due_date == new_due
        assert decode_pix(data["pix"]["br_code"]).amount == quote.total

    def test_days_to_pay_setting(self, session: Session, tenant) -> None:
        configure(session, tenant, boleto={**_itau(), "days_to_pay": 5})
        row = receivable(session, tenant, customer(session, tenant), due=date(2026, 6, 10))
        data = instructions(session, tenant, row, as_of=date(2026, 9, 15)).as_contract()
        assert data["due_date"] == add_bank_business_days(date(2026, 9, 15), 5).isoformat()

    def test_consumer_fine_is_capped_at_two_percent(self, session: Session, tenant) -> None:
        save_policy(
            session,
            tenant_id=tenant.id,
            document=Policy(business_only=True, fine_percent=D("10")),
            actor="test",
        )
        configure(session, tenant)
        maria = customer(session, tenant)  # CPF: consumer
        company = customer(session, tenant, document="11444777000161", name="Padaria Ltda")
        due = date(2026, 6, 10)
        as_of = date(2026, 9, 15)
        consumer = instructions(
            session, tenant, receivable(session, tenant, maria, due=due, amount="1000.00"), as_of
        )
        business = instructions(
            session, tenant, receivable(session, tenant, company, due=due, amount="1000.00"), as_of
        )
        base = consumer.terms.quote.corrected_principal
        assert consumer.terms.quote.fine == quantize(base * D("0.02"))
        assert business.terms.quote.fine == quantize(base * D("0.10"))
        assert any("CDC art. 52" in line for line in consumer.as_contract()["instructions"])
        not_due = instructions(
            session, tenant, receivable(session, tenant, maria, due=date(2026, 12, 10)), TODAY
        )
        assert not_due.terms.after_due.fine_percent == D("2")


def _itau() -> dict[str, str]:
    return {"bank": "341", "agencia": "1234", "conta": "12345", "conta_dv": "6", "carteira": "109"}


class TestNossoNumero:
    def test_sequential_unique_and_stable(self, session: Session, tenant) -> None:
        configure(session, tenant)
        maria = customer(session, tenant)
        rows = [
            receivable(session, tenant, maria, due=date(2026, 12, 10 + i % 5)) for i in range(12)
        ]
        numbers = [instructions(session, tenant, row).boleto.nosso_numero for row in rows]  # type: ignore[union-attr]
        assert numbers == [f"{i:08d}" for i in range(1, 13)]
        for row in rows[:3]:  # repeated calls keep the receivable's number
            again = instructions(session, tenant, row, as_of=date(2026, 11, 24))
            assert again.boleto is not None and again.boleto.nosso_numero == row.nosso_numero
        settings = service.get_settings(session, tenant_id=tenant.id)
        assert settings is not None and settings.nosso_numero_next == 13
        count = session.scalar(
            select(func.count())
            .select_from(BillingReference)
            .where(BillingReference.tenant_id == tenant.id)
        )
        assert count == 24  # 12 nossos números + 12 txids

    def test_sequence_set_back_skips_numbers_in_use(self, session: Session, tenant) -> None:
        configure(session, tenant)
        maria = customer(session, tenant)
        first = [receivable(session, tenant, maria, due=date(2026, 12, 10)) for _ in range(3)]
        for row in first:
            instructions(session, tenant, row)
        configure(session, tenant, boleto={**_itau(), "nosso_numero_next": 2})
        late = receivable(session, tenant, maria, due=date(2026, 12, 10))
        assert instructions(session, tenant, late).boleto.nosso_numero == "00000004"  # type: ignore[union-attr]

    def test_imported_nosso_numero_is_kept(self, session: Session, tenant) -> None:
        configure(session, tenant)
        row = receivable(session, tenant, customer(session, tenant), due=date(2026, 12, 10))
        row.nosso_numero = "4567"
        data = instructions(session, tenant, row).as_contract()
        assert data["boleto"]["nosso_numero"] == "00004567"
        assert explain_free_field(
            "341", decode_boleto(data["boleto"]["barcode"]).free_field
        ).nosso_numero.startswith("109/00004567")

    def test_imported_nosso_numero_that_does_not_fit(self, session: Session, tenant) -> None:
        configure(session, tenant)
        row = receivable(session, tenant, customer(session, tenant), due=date(2026, 12, 10))
        row.nosso_numero = "123456789012"
        with pytest.raises(service.ReceivableNotBillable, match="8 dígitos"):
            instructions(session, tenant, row)

    def test_long_sequences_fit(self, session: Session, tenant) -> None:
        # Caixa SIGCB: 15 sequence digits — beyond a 32-bit integer.
        configure(
            session,
            tenant,
            boleto={"bank": "104", "codigo_beneficiario": "123456", "nosso_numero_next": 10**14},
        )
        row = receivable(session, tenant, customer(session, tenant), due=date(2026, 12, 10))
        boleto = instructions(session, tenant, row).boleto
        assert boleto is not None and boleto.nosso_numero == "100000000000000"
        settings = service.get_settings(session, tenant_id=tenant.id)
        assert settings is not None and settings.nosso_numero_next == 10**14 + 1

    def test_other_banks(self, session: Session, tenant) -> None:
        for bank in (
            {"bank": "237", "agencia": "1234", "conta": "1234567", "carteira": "09"},
            {"bank": "001", "convenio": "1234567", "carteira": "17"},
            {"bank": "104", "codigo_beneficiario": "123456"},
            {"bank": "756", "options": {"cooperativa": "4321", "codigo_cliente": "1234567"}},
        ):
            configure(session, tenant, boleto=bank)
            row = receivable(session, tenant, customer(session, tenant), due=date(2026, 12, 10))
            data = instructions(session, tenant, row).as_contract()
            boleto = decode_boleto(data["boleto"]["barcode"])
            assert boleto.bank_code == bank["bank"]
            explain_free_field(bank["bank"], boleto.free_field)  # check digits hold


class TestReuse:
    def test_same_documents_until_due_then_new(self, session: Session, tenant) -> None:
        configure(session, tenant)
        row = receivable(session, tenant, customer(session, tenant), due=date(2026, 12, 10))
        first = instructions(session, tenant, row)
        again = instructions(session, tenant, row, as_of=date(2026, 12, 1))
        assert again.boleto is not None and first.boleto is not None
        assert again.boleto.id == first.boleto.id and again.pix.id == first.pix.id  # type: ignore[union-attr]
        overdue = instructions(session, tenant, row, as_of=date(2026, 12, 15))
        assert overdue.boleto is not None and overdue.boleto.id != first.boleto.id
        assert overdue.boleto.nosso_numero == first.boleto.nosso_numero
        assert overdue.pix.txid == first.pix.txid  # type: ignore[union-attr]
        assert first.boleto.superseded_at is not None
        # The overdue document is itself reused until its new due date.
        later = instructions(session, tenant, row, as_of=date(2026, 12, 16))
        assert later.boleto is not None and later.boleto.id == overdue.boleto.id
        assert later.due_date == overdue.due_date

    def test_balance_change_issues_a_new_document(self, session: Session, tenant) -> None:
        configure(session, tenant)
        row = receivable(session, tenant, customer(session, tenant), due=date(2026, 12, 10))
        first = instructions(session, tenant, row)
        row.balance = D("1000.00")
        second = instructions(session, tenant, row)
        assert second.boleto is not None and first.boleto is not None
        assert second.boleto.id != first.boleto.id and second.amount == D("1000.00")
        current = session.scalars(
            select(ChargeDocument).where(
                ChargeDocument.receivable_id == row.id, ChargeDocument.superseded_at.is_(None)
            )
        ).all()
        assert sorted(d.kind for d in current) == [ChargeKind.BOLETO, ChargeKind.PIX]

    def test_settings_change_issues_a_new_document(self, session: Session, tenant) -> None:
        configure(session, tenant)
        row = receivable(session, tenant, customer(session, tenant), due=date(2026, 12, 10))
        first = instructions(session, tenant, row)
        configure(session, tenant, pix={**PIX, "key": "outra@loja.example"})
        second = instructions(session, tenant, row)
        assert second.pix is not None and first.pix is not None and first.boleto is not None
        assert second.pix.id != first.pix.id
        assert decode_pix(second.pix.br_code or "").key == "outra@loja.example"
        assert second.boleto is not None and second.boleto.id == first.boleto.id


class TestCustomerAndPdf:
    def test_all_open_receivables_of_a_customer(self, session: Session, tenant) -> None:
        configure(session, tenant)
        maria = customer(session, tenant)
        receivable(session, tenant, maria, due=date(2026, 12, 10), external_id="B")
        receivable(session, tenant, maria, due=date(2026, 6, 10), external_id="A")
        paid = receivable(session, tenant, maria, due=date(2026, 5, 10), external_id="P")
        paid.status, paid.balance = ReceivableStatus.PAID, D("0.00")
        found = service.instructions_for_customer(
            session, tenant_id=tenant.id, customer_id=maria.id, as_of=date(2026, 10, 5)
        )
        assert [f.receivable.external_id for f in found] == ["A", "B"]
        assert [f.terms.overdue for f in found] == [True, False]

    def test_boleto_document_identifies_the_creditor(self, session: Session, tenant) -> None:
        configure(session, tenant)
        row = receivable(session, tenant, customer(session, tenant), due=date(2026, 12, 10))
        document = service.boleto_document(
            session, tenant_id=tenant.id, receivable_id=row.id, as_of=TODAY
        )
        html = render_html(document)
        assert "Loja Exemplo Comércio Ltda" in html and "11.222.333/0001-81" in html
        assert "Rua Augusta, 100" in html and "Maria da Silva" in html
        assert document.agencia_codigo_beneficiario == "1234/12345-6"
        assert document.pix_payload is not None
        pdf = service.boleto_pdf(session, tenant_id=tenant.id, receivable_id=row.id, as_of=TODAY)
        assert pdf.startswith(b"%PDF")


class TestRefusals:
    def test_not_configured(self, session: Session, tenant) -> None:
        row = receivable(session, tenant, customer(session, tenant), due=date(2026, 12, 10))
        with pytest.raises(service.BillingNotConfigured):
            instructions(session, tenant, row)

    def test_pix_only_and_boleto_only(self, session: Session, tenant) -> None:
        configure(session, tenant, boleto=None)
        row = receivable(session, tenant, customer(session, tenant), due=date(2026, 12, 10))
        data = instructions(session, tenant, row).as_contract()
        assert data["boleto"] is None and data["pix"]["kind"] == "static"
        assert row.nosso_numero is None
        configure(session, tenant, pix=None)
        data = instructions(session, tenant, row).as_contract()
        assert data["pix"] is None and data["boleto"] is not None

    def test_closed_receivable(self, session: Session, tenant) -> None:
        configure(session, tenant)
        row = receivable(session, tenant, customer(session, tenant), due=date(2026, 12, 10))
        row.status = ReceivableStatus.PAID
        with pytest.raises(service.ReceivableNotBillable):
            instructions(session, tenant, row)

    def test_other_tenant_gets_not_found(self, session: Session, tenant) -> None:
        configure(session, tenant)
        row = receivable(session, tenant, customer(session, tenant), due=date(2026, 12, 10))
        other = create_tenant(
            session,
            slug=f"o-{uuid.uuid4().hex[:6]}",
            legal_name="Outro Credor S.A.",
            document="11.444.777/0001-61",
            address="Rua B, 2",
            city="Curitiba",
            uf="PR",
        )
        configure(session, other)
        with pytest.raises(NotFound):
            service.payment_instructions(
                session, tenant_id=other.id, receivable_id=row.id, as_of=TODAY
            )

    @pytest.mark.parametrize(
        ("document", "message"),
        [
            ({"boleto": {"bank": "999"}}, "não suportado"),
            ({"boleto": {"bank": "341", "agencia": "1234", "carteira": "109"}}, "conta"),
            ({"boleto": {**_itau(), "options": {"cooperativa": "1"}}}, "não usa cooperativa"),
            ({"boleto": {**_itau(), "nosso_numero_next": 10**8}}, "8 dígitos"),
            (
                {"boleto": {"bank": "756", "options": {"cooperativa": True}}},
                "cooperativa: deve ser texto",
            ),
            (
                {
                    "boleto": {
                        "bank": "001",
                        "convenio": "123456",
                        "carteira": "18",
                        "options": {"nosso_numero_livre": "sim"},
                    }
                },
                "verdadeiro/falso",
            ),
            ({"pix": {"key": "k@x.example", "merchant_name": "   "}}, "merchant name"),
        ],
    )
    def test_invalid_settings(self, session: Session, tenant, document, message) -> None:  # type: ignore[no-untyped-def]
        with pytest.raises(service.BillingSettingsInvalid, match=message):
            service.save_settings(
                session,
                tenant_id=tenant.id,
                document=BillingSettingsInput.model_validate(document),
                actor="test",
            )

    def test_psp_needs_pix_and_a_secret(self, session: Session, tenant) -> None:
        from pydantic import ValidationError

        with pytest.raises(ValidationError, match=r"psp requires pix\.key"):
            BillingSettingsInput.model_validate(
                {"psp": {"base_url": "http://x", "client_id": "a", "client_secret": "b"}}
            )
        with pytest.raises(service.BillingSettingsInvalid, match="client_secret"):
            configure(session, tenant, psp={"base_url": "http://x", "client_id": "a"})
