"""Imports through the service, on SQLite and PostgreSQL."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
from factories import CUSTOMERS, PAYMENTS, RECEIVABLES, write
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from adimple.audit.models import AuditEvent
from adimple.kit.errors import ValidationFailed
from adimple.portfolio import service
from adimple.portfolio.import_file import ImportKind, load
from adimple.portfolio.models import ContactPoint, Customer, Receivable, ReceivableStatus


def run(session: Session, tenant, path: Path, kind: ImportKind, partial: bool = False):  # type: ignore[no-untyped-def]
    validated, _ = load(path, kind)
    return service.import_validated(
        session,
        tenant_id=tenant.id,
        kind=kind,
        validated=validated,
        source=str(path),
        actor="test",
        partial=partial,
    )


@pytest.fixture
def loaded(session: Session, tenant, tmp_path: Path):  # type: ignore[no-untyped-def]
    run(session, tenant, write(tmp_path / "c.csv", CUSTOMERS), ImportKind.CUSTOMERS)
    run(session, tenant, write(tmp_path / "r.csv", RECEIVABLES), ImportKind.RECEIVABLES)
    return tmp_path


def receivable(session: Session, tenant, external_id: str) -> Receivable:  # type: ignore[no-untyped-def]
    return session.scalars(
        select(Receivable).where(
            Receivable.tenant_id == tenant.id, Receivable.external_id == external_id
        )
    ).one()


class TestCustomersImport:
    def test_inserts_customers_and_their_contact_points(
        self, session: Session, tenant, tmp_path: Path
    ) -> None:
        result = run(session, tenant, write(tmp_path / "c.csv", CUSTOMERS), ImportKind.CUSTOMERS)
        assert (result.inserted, result.updated, result.unchanged) == (2, 0, 0)
        maria = service.get_customer_by_external_id(session, tenant_id=tenant.id, external_id="C1")
        assert maria.document == "52998224725" and maria.uf == "SP"
        assert str(maria.birth_date) == "1980-03-15"
        points = service.list_contact_points(session, tenant_id=tenant.id, customer_id=maria.id)
        assert {(p.kind.value, p.value, p.preferred) for p in points} == {
            ("email", "maria@example.com", True),
            ("phone", "+5511987654321", True),
        }
        padaria = service.get_customer_by_external_id(
            session, tenant_id=tenant.id, external_id="C2"
        )
        assert padaria.document == "12ABC34501DE35" and not padaria.is_consumer

    def test_latin1_file_with_comma_delimiter(
        self, session: Session, tenant, tmp_path: Path
    ) -> None:
        text = "id,cpf,nome,uf\nC9,529.982.247-25,João Conceição,BA\n"
        path = write(tmp_path / "latin.csv", text, encoding="latin-1")
        _, detected = load(path, ImportKind.CUSTOMERS)
        assert detected.encoding and "latin-1" in detected.encoding
        assert detected.delimiter == ","
        run(session, tenant, path, ImportKind.CUSTOMERS)
        joao = service.get_customer_by_external_id(session, tenant_id=tenant.id, external_id="C9")
        assert joao.name == "João Conceição"

    def test_a_new_email_alone_counts_as_an_update(
        self, session: Session, tenant, tmp_path: Path
    ) -> None:
        run(session, tenant, write(tmp_path / "c.csv", CUSTOMERS), ImportKind.CUSTOMERS)
        changed = CUSTOMERS.replace("maria@example.com", "maria.silva@example.com")
        result = run(session, tenant, write(tmp_path / "c2.csv", changed), ImportKind.CUSTOMERS)
        assert (result.inserted, result.updated, result.unchanged) == (0, 1, 1)
        count = session.scalar(
            select(func.count())
            .select_from(ContactPoint)
            .where(ContactPoint.tenant_id == tenant.id, ContactPoint.kind == "email")
        )
        assert count == 2


class TestReceivablesImport:
    def test_amounts_dates_and_installments(self, session: Session, tenant, loaded: Path) -> None:
        t1 = receivable(session, tenant, "T1")
        assert t1.original_amount == Decimal("1234.56") == t1.balance
        assert (t1.installment_number, t1.installment_count) == (1, 3)
        assert str(t1.issue_date) == "2026-01-01" and str(t1.due_date) == "2026-02-10"
        assert t1.status is ReceivableStatus.OPEN

    def test_same_file_twice_changes_nothing(self, session: Session, tenant, loaded: Path) -> None:
        before = session.scalar(select(func.count()).select_from(AuditEvent))
        stamp = receivable(session, tenant, "T1").updated_at
        result = run(session, tenant, loaded / "r.csv", ImportKind.RECEIVABLES)
        assert (result.inserted, result.updated, result.unchanged) == (0, 0, 3)
        session.expire_all()
        assert receivable(session, tenant, "T1").updated_at == stamp
        # Only the import summary is audited, no per-row change.
        assert session.scalar(select(func.count()).select_from(AuditEvent)) == before + 1

    def test_changed_row_is_updated_and_audited(
        self, session: Session, tenant, loaded: Path
    ) -> None:
        changed = RECEIVABLES.replace("99,90", "109,90")
        result = run(session, tenant, write(loaded / "r2.csv", changed), ImportKind.RECEIVABLES)
        assert (result.inserted, result.updated, result.unchanged) == (0, 1, 2)
        session.expire_all()
        t3 = receivable(session, tenant, "T3")
        assert t3.original_amount == Decimal("109.90") == t3.balance
        event = session.scalars(
            select(AuditEvent).where(
                AuditEvent.tenant_id == tenant.id,
                AuditEvent.action == "receivable.updated",
                AuditEvent.entity_id == t3.id,
            )
        ).one()
        assert event.data["before"]["original_amount_cents"] == 9990
        assert event.data["after"]["original_amount_cents"] == 10990
        assert event.data["line"] == 4

    def test_all_or_nothing_reports_every_error(
        self, session: Session, tenant, loaded: Path
    ) -> None:
        bad = (
            "id_titulo;id_cliente;emissao;vencimento;valor\n"
            "T9;C1;01/01/2026;10/02/2026;10,00\n"
            "T10;CX;01/01/2026;10/02/2026;10,00\n"
            "T11;C1;01/01/2026;10/02/2025;abc\n"
            "T12;C1;01/01/2026;10/02/2026;10,001\n"
            "T13;C1;01/01/2026;10/02/2026;0,00\n"
            "T9;C1;31/02/2026;10/02/2026;10,00\n"
        )
        with pytest.raises(ValidationFailed) as caught:
            run(session, tenant, write(loaded / "bad.csv", bad), ImportKind.RECEIVABLES)
        found = {(e.line, e.field, e.reason) for e in caught.value.errors}
        source = str(loaded / "bad.csv")
        assert (3, "customer_external_id", "customer 'CX' not found") in found
        assert (4, "amount", "'abc' is not an amount") in found
        assert (4, "due_date", "due date is before the issue date") in found
        assert (5, "amount", "must have at most 2 decimal places") in found
        assert (6, "amount", "must be greater than zero") in found
        assert (7, "external_id", "duplicate external_id (first on line 2)") in found
        assert any(e.line == 7 and e.field == "issue_date" for e in caught.value.errors)
        assert str(caught.value.errors[0]).startswith(f"{source}:3: customer_external_id:")
        t9 = session.scalar(select(Receivable).where(Receivable.external_id == "T9"))
        assert t9 is None

    def test_partial_keeps_valid_rows_and_writes_rejects(
        self, session: Session, tenant, loaded: Path
    ) -> None:
        bad = (
            "id_titulo;id_cliente;emissao;vencimento;valor\n"
            "T9;C1;01/01/2026;10/02/2026;10,00\n"
            "T10;CX;01/01/2026;10/02/2026;10,00\n"
            "T11;C1;01/01/2026;10/02/2026;-3\n"
        )
        path = write(loaded / "bad.csv", bad)
        validated, _ = load(path, ImportKind.RECEIVABLES)
        result = service.import_validated(
            session,
            tenant_id=tenant.id,
            kind=ImportKind.RECEIVABLES,
            validated=validated,
            source=str(path),
            actor="test",
            partial=True,
        )
        assert (result.inserted, result.rejected) == (1, 2)
        rejects = service.write_rejects(path, validated.raw, result.errors)
        lines = rejects.read_text(encoding="utf-8").splitlines()
        assert lines[0].endswith(";reason")
        assert lines[1].startswith("3;T10;CX") and "customer 'CX' not found" in lines[1]
        assert lines[2].startswith("4;T11") and "must be greater than zero" in lines[2]
        assert receivable(session, tenant, "T9").original_amount == Decimal("10.00")

    def test_missing_columns_are_reported_on_the_header(self, tmp_path: Path) -> None:
        path = write(tmp_path / "x.csv", "id_titulo;valor\nT1;10\n")
        validated, _ = load(path, ImportKind.RECEIVABLES)
        reasons = [str(e) for e in validated.errors]
        assert (
            f"{path}:1: header: missing column 'issue_date' (or emissao, data_emissao, dt_emissao)"
            in reasons
        )
        assert any("customer_external_id" in r for r in reasons)

    def test_xlsx(self, session: Session, tenant, loaded: Path) -> None:
        book = openpyxl.Workbook()
        sheet = book.active
        assert sheet is not None
        sheet.append(["id_titulo", "id_cliente", "emissao", "vencimento", "valor"])
        sheet.append(["X1", "C1", "2026-01-05", "2026-02-05", "250.5"])
        book.save(loaded / "t.xlsx")
        result = run(session, tenant, loaded / "t.xlsx", ImportKind.RECEIVABLES)
        assert result.inserted == 1
        assert receivable(session, tenant, "X1").original_amount == Decimal("250.50")


class TestPaymentsImport:
    def test_payments_settle_receivables(self, session: Session, tenant, loaded: Path) -> None:
        result = run(session, tenant, write(loaded / "p.csv", PAYMENTS), ImportKind.PAYMENTS)
        assert result.inserted == 2
        session.expire_all()
        t1, t2 = receivable(session, tenant, "T1"), receivable(session, tenant, "T2")
        assert t1.status is ReceivableStatus.PAID and t1.balance == Decimal("0.00")
        assert t2.status is ReceivableStatus.OPEN and t2.balance == Decimal("1134.56")
        payment = service.get_payment_by_external_id(session, tenant_id=tenant.id, external_id="P1")
        assert (payment.gross, payment.fees, payment.net) == (
            Decimal("1234.56"),
            Decimal("2.50"),
            Decimal("1232.06"),
        )

    def test_unknown_receivable(self, session: Session, tenant, loaded: Path) -> None:
        path = write(
            loaded / "p.csv", "id_pagamento;id_titulo;data_pagamento;valor\nP;TX;2026-01-01;1\n"
        )
        with pytest.raises(ValidationFailed) as caught:
            run(session, tenant, path, ImportKind.PAYMENTS)
        assert (
            str(caught.value.errors[0])
            == f"{path}:2: receivable_external_id: receivable 'TX' not found"
        )

    def test_fees_above_the_amount(self, session: Session, tenant, loaded: Path) -> None:
        path = write(
            loaded / "p.csv",
            "id_pagamento;id_titulo;data_pagamento;valor;tarifa\nP;T1;2026-01-01;1,00;2,00\n",
        )
        with pytest.raises(ValidationFailed) as caught:
            run(session, tenant, path, ImportKind.PAYMENTS)
        assert caught.value.errors[0].field == "fees"

    def test_deleting_a_payment_reopens_the_receivable(
        self, session: Session, tenant, loaded: Path
    ) -> None:
        run(session, tenant, write(loaded / "p.csv", PAYMENTS), ImportKind.PAYMENTS)
        payment = service.get_payment_by_external_id(session, tenant_id=tenant.id, external_id="P1")
        service.delete_payment(session, tenant_id=tenant.id, payment_id=payment.id, actor="test")
        t1 = receivable(session, tenant, "T1")
        assert t1.status is ReceivableStatus.OPEN and t1.balance == Decimal("1234.56")


class TestTenantIsolation:
    def test_same_external_ids_in_two_tenants(
        self, session: Session, tenant, tmp_path: Path
    ) -> None:
        from adimple.tenancy.service import create_tenant

        other = create_tenant(
            session,
            slug="outro",
            legal_name="Outro Credor S.A.",
            document="11.444.777/0001-61",
            address="Rua B, 2",
            city="Curitiba",
            uf="PR",
        )
        path = write(tmp_path / "c.csv", CUSTOMERS)
        run(session, tenant, path, ImportKind.CUSTOMERS)
        result = run(session, other, path, ImportKind.CUSTOMERS)
        assert result.inserted == 2
        total = session.scalar(
            select(func.count()).select_from(Customer).where(Customer.external_id == "C1")
        )
        assert total == 2
