"""Charges service on a real database (SQLite and PostgreSQL, via tests/conftest.py)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from adimple.audit.models import AuditEvent
from adimple.charges import service
from adimple.charges.calculator import quote_installment
from adimple.charges.indices import MissingIndexMonth, SeriesName
from adimple.charges.models import CollectionPolicy, IndexValue
from adimple.charges.policy import DEFAULT_POLICY, ConsumerFineCapExceeded, Policy, PolicyError
from adimple.db.base import utcnow
from adimple.portfolio.models import Customer, DocumentKind, Receivable, ReceivableStatus
from adimple.tenancy.models import Tenant

D = Decimal


class TestPolicyVersions:
    def test_default_when_nothing_saved(self, session: Session, tenant: Tenant) -> None:
        assert service.get_active_policy_record(session, tenant_id=tenant.id) is None
        assert service.get_active_policy(session, tenant_id=tenant.id) == DEFAULT_POLICY

    def test_each_save_is_a_new_audited_version(self, session: Session, tenant: Tenant) -> None:
        first = service.save_policy(
            session, tenant_id=tenant.id, document={"grace_days": 3}, actor="ana"
        )
        second = service.save_policy(
            session,
            tenant_id=tenant.id,
            document=Policy(interest={"mode": "legal"}),
            actor="bruno",
        )
        assert (first.version, second.version) == (1, 2)
        active = service.get_active_policy(session, tenant_id=tenant.id)
        assert active.interest.mode == "legal" and active.grace_days == 0
        versions = service.list_policy_versions(session, tenant_id=tenant.id)
        assert [(v.version, v.created_by) for v in versions] == [(2, "bruno"), (1, "ana")]
        events = session.scalars(
            select(AuditEvent).where(
                AuditEvent.tenant_id == tenant.id, AuditEvent.action == "policy.saved"
            )
        ).all()
        assert sorted(e.data["version"] for e in events) == [1, 2]

    def test_document_is_stored_without_floats(self, session: Session, tenant: Tenant) -> None:
        service.save_policy(
            session,
            tenant_id=tenant.id,
            document={"interest": {"mode": "monthly_simple", "monthly_percent": 0.99}},
            actor="ana",
        )
        session.expire_all()
        record = session.scalars(
            select(CollectionPolicy).where(CollectionPolicy.tenant_id == tenant.id)
        ).one()
        assert record.document["interest"]["monthly_percent"] == "0.99"
        assert record.document["fine_percent"] == "2"

    def test_consumer_cap_on_save(self, session: Session, tenant: Tenant) -> None:
        with pytest.raises(ConsumerFineCapExceeded):
            service.save_policy(
                session, tenant_id=tenant.id, document={"fine_percent": 5}, actor="ana"
            )
        record = service.save_policy(
            session,
            tenant_id=tenant.id,
            document={"fine_percent": 5, "business_only": True},
            actor="ana",
        )
        assert record.version == 1

    def test_invalid_document(self, session: Session, tenant: Tenant) -> None:
        with pytest.raises(PolicyError, match="grace_days"):
            service.save_policy(
                session, tenant_id=tenant.id, document={"grace_days": -1}, actor="ana"
            )

    def test_versions_are_per_tenant(self, session: Session, tenant: Tenant) -> None:
        other = Tenant(
            slug="outro-credor",
            legal_name="Outro Credor Ltda",
            document="11444777000161",
            address="Rua B, 2",
            city="Recife",
            uf="PE",
        )
        session.add(other)
        session.flush()
        service.save_policy(session, tenant_id=tenant.id, document={}, actor="a")
        assert service.save_policy(session, tenant_id=other.id, document={}, actor="b").version == 1
        assert service.find_tenant(session, slug="outro-credor").id == other.id


class TestIndexValues:
    def test_database_values_overlay_the_package(self, session: Session) -> None:
        with pytest.raises(MissingIndexMonth):
            service.load_index_series(session, "IPCA").percent("2026-10")
        session.add(
            IndexValue(
                series=SeriesName.IPCA,
                month="2026-10",
                percent="0.09",
                source="test",
                imported_at=utcnow(),
            )
        )
        session.flush()
        series = service.load_index_series(session, SeriesName.IPCA)
        assert series.percent("2026-10") == D("0.09")
        assert series.percent("2026-09") == D("0.82")  # packaged value still there
        quote = quote_installment(
            principal=D("100"),
            due_date=date(2026, 9, 10),
            as_of=date(2026, 11, 23),
            indices=service.load_index_book(session),
        )
        assert quote.correction_months == ("2026-10",)
        assert quote.correction == D("0.09")

    def test_import_file_is_idempotent_and_takes_corrections(
        self, session: Session, tmp_path: Path
    ) -> None:
        file = tmp_path / "ipca.csv"
        file.write_text("month,percent,source\n2026-09,0.82,IBGE\n2026-10,0.09,IBGE\n")
        first = service.import_index_file(session, file, series="IPCA")
        assert (first["inserted"], first["updated"], first["unchanged"]) == (2, 0, 0)
        assert first["last"] == "2026-10" and first["differs_from_package"] == []
        again = service.import_index_file(session, file, series="IPCA")
        assert (again["inserted"], again["updated"], again["unchanged"]) == (0, 0, 2)
        file.write_text("month,percent\n2026-09,0.81\n")
        fixed = service.import_index_file(session, file, series=SeriesName.IPCA)
        assert (fixed["updated"], fixed["differs_from_package"]) == (1, ["2026-09"])
        series = service.load_index_series(session, "IPCA")
        assert series.percent("2026-09") == D("0.81")
        assert series.points["2026-09"].source == "ipca.csv"

    def test_import_sgs_json(self, session: Session, tmp_path: Path) -> None:
        file = tmp_path / "sgs.json"
        file.write_text('[{"data": "01/11/2026", "valor": "0.412345"}]')
        result = service.import_index_file(session, file, series="TAXA_LEGAL")
        assert result["inserted"] == 1
        stored = session.scalars(
            select(IndexValue).where(IndexValue.series == SeriesName.TAXA_LEGAL)
        ).one()
        assert stored.percent == "0.412345"


def _customer(session: Session, tenant: Tenant, *, cpf: bool, consumer: bool = False) -> Customer:
    customer = Customer(
        tenant_id=tenant.id,
        external_id=f"c-{cpf}-{consumer}",
        document="52998224725" if cpf else "11444777000161",
        document_kind=DocumentKind.CPF if cpf else DocumentKind.CNPJ,
        name="Maria da Silva" if cpf else "Empresa X Ltda",
        consumer=consumer,
    )
    session.add(customer)
    session.flush()
    return customer


def _receivable(
    session: Session, tenant: Tenant, customer: Customer, n: int, due: date, amount: str
) -> Receivable:
    receivable = Receivable(
        tenant_id=tenant.id,
        customer_id=customer.id,
        external_id=f"r-{customer.external_id}-{n}",
        installment_number=n,
        installment_count=3,
        issue_date=date(2026, 1, 2),
        due_date=due,
        original_amount=D(amount),
        balance=D(amount),
        status=ReceivableStatus.OPEN,
    )
    session.add(receivable)
    session.flush()
    return receivable


class TestOffersForCustomer:
    def test_sums_the_overdue_receivables(self, session: Session, tenant: Tenant) -> None:
        customer = _customer(session, tenant, cpf=True)
        _receivable(session, tenant, customer, 1, date(2026, 3, 10), "600.00")
        _receivable(session, tenant, customer, 2, date(2026, 4, 10), "400.00")
        _receivable(session, tenant, customer, 3, date(2026, 5, 11), "400.00")  # not due yet
        offers = service.offers_for_customer(
            session, tenant_id=tenant.id, customer_id=customer.id, as_of=date(2026, 4, 15)
        )
        # 600 (36 days): multa 12,00 + juros 7,20; 400 (5 days): multa 8,00 + juros 0,67.
        a_vista = offers[0]
        assert a_vista.id == "a-vista"
        assert a_vista.discount == D("13.94")  # 50% of 27,87 encargos, rounded half up
        assert a_vista.total == D("1013.93")
        for offer in offers:
            assert sum(offer.installment_amounts) == offer.total

    def test_future_installments_only_on_request(self, session: Session, tenant: Tenant) -> None:
        customer = _customer(session, tenant, cpf=True)
        _receivable(session, tenant, customer, 1, date(2026, 5, 11), "400.00")
        none_due = service.offers_for_customer(
            session, tenant_id=tenant.id, customer_id=customer.id, as_of=date(2026, 4, 15)
        )
        assert none_due == []
        offers = service.offers_for_customer(
            session,
            tenant_id=tenant.id,
            customer_id=customer.id,
            as_of=date(2026, 4, 15),
            include_future=True,
        )
        assert offers[0].total == D("400.00")

    def test_consumer_flag_applies_the_cdc_cap(self, session: Session, tenant: Tenant) -> None:
        service.save_policy(
            session,
            tenant_id=tenant.id,
            document={"fine_percent": 10, "business_only": True},
            actor="ana",
        )
        business = _customer(session, tenant, cpf=False)
        _receivable(session, tenant, business, 1, date(2026, 3, 10), "1000.00")
        offers = service.offers_for_customer(
            session, tenant_id=tenant.id, customer_id=business.id, as_of=date(2026, 4, 15)
        )
        assert offers[0].total == D("1056.00")  # multa 100 + juros 12 − 50% of 112
        flagged = _customer(session, tenant, cpf=False, consumer=True)
        _receivable(session, tenant, flagged, 1, date(2026, 3, 10), "1000.00")
        with pytest.raises(ConsumerFineCapExceeded):
            service.offers_for_customer(
                session, tenant_id=tenant.id, customer_id=flagged.id, as_of=date(2026, 4, 15)
            )
