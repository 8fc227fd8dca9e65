"""apply_payment: idempotency, imputação (bank breakdown and CC art. 354), partial payments,
overpayments (CDC art. 42), provisional charges, settlement effects, and agreement with the
import path and estorno — on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from uuid import uuid4

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from recon_helpers import (
    active_bureau_record,
    count,
    customer,
    flat_policy,
    no_charges_policy,
    open_case,
    pay,
    queued_message,
    receivable,
)
from sqlalchemy import select
from sqlalchemy.orm import Session

from adimple.audit.models import AuditEvent
from adimple.cadence.models import BureauStatus, CaseStatus
from adimple.kit.calendar import add_bank_business_days
from adimple.kit.errors import Conflict, NotFound
from adimple.messaging.models import OutboxStatus, Task, TaskKind
from adimple.payments.settlement import (
    PaymentBreakdown,
    PaymentInput,
    allocate_charges_first,
    allocate_with_breakdown,
    apply_payments,
)
from adimple.portfolio import service as portfolio
from adimple.portfolio.import_file import ImportKind
from adimple.portfolio.models import (
    Imputation,
    Payment,
    PaymentSource,
    ReceivableStatus,
    RefundStatus,
)
from adimple.portfolio.schemas import PaymentCreate
from adimple.tenancy.models import Tenant

D = Decimal
DUE = date(2026, 10, 1)  # a Thursday
LATE = date(2026, 10, 31)  # 30 days late: multa 2% + juros 1% a.m. × 30/30 = 3%


class TestChargesFirst:
    def test_on_time_payment_is_all_principal(self, session: Session, tenant: Tenant) -> None:
        flat_policy(session, tenant.id)
        item = receivable(
            session,
            tenant.id,
            customer(session, tenant.id),
            external_id="T1",
            amount="1000.00",
            due=DUE,
        )
        result = pay(session, tenant, item, "1000.00", DUE)
        p = result.payment
        assert result.created and result.closed and result.balance == D("0.00")
        assert (p.principal, p.charges, p.discount, p.overpaid) == (D(1000), 0, 0, 0)
        assert p.imputation == Imputation.CHARGES_FIRST and p.refund_status == RefundStatus.NONE
        assert item.status == ReceivableStatus.PAID and item.balance == 0

    def test_late_payment_pays_charges_first(self, session: Session, tenant: Tenant) -> None:
        flat_policy(session, tenant.id)
        item = receivable(
            session,
            tenant.id,
            customer(session, tenant.id),
            external_id="T1",
            amount="1000.00",
            due=DUE,
        )
        result = pay(session, tenant, item, "1030.00", LATE)
        p = result.payment
        assert (p.charges, p.principal, p.overpaid) == (D("30.00"), D("1000.00"), 0)
        assert result.closed and p.details["charges_due"] == "30.00"

    def test_partial_then_rest_charges_accrue_once(self, session: Session, tenant: Tenant) -> None:
        flat_policy(session, tenant.id)
        item = receivable(
            session,
            tenant.id,
            customer(session, tenant.id),
            external_id="T1",
            amount="1000.00",
            due=DUE,
        )
        first = pay(session, tenant, item, "500.00", LATE)
        assert (first.payment.charges, first.payment.principal) == (D("30.00"), D("470.00"))
        assert first.receivable_status == ReceivableStatus.OPEN and first.balance == D("530.00")
        # 30 more days on 530.00: only the juros of the period (1% = 5.30); the multa was paid.
        second = pay(session, tenant, item, "535.30", date(2026, 11, 30))
        assert (second.payment.charges, second.payment.principal) == (D("5.30"), D("530.00"))
        assert second.closed and second.payment.overpaid == 0

    def test_unpaid_charges_carry_to_the_next_payment(
        self, session: Session, tenant: Tenant
    ) -> None:
        flat_policy(session, tenant.id)
        item = receivable(
            session,
            tenant.id,
            customer(session, tenant.id),
            external_id="T1",
            amount="1000.00",
            due=DUE,
        )
        first = pay(session, tenant, item, "10.00", LATE)  # less than the 30.00 of charges
        assert (first.payment.charges, first.payment.principal) == (D("10.00"), 0)
        second = pay(session, tenant, item, "20.00", LATE, external_id="again")
        assert (second.payment.charges, second.payment.principal) == (D("20.00"), 0)
        assert second.balance == D("1000.00")

    def test_early_payoff_discount_cdc_52(self, session: Session, tenant: Tenant) -> None:
        from adimple.charges.policy import Policy
        from adimple.charges.service import save_policy

        policy = Policy(correction={"index": "none"}, early_payoff_monthly_percent=D("1"))
        save_policy(session, tenant_id=tenant.id, document=policy, actor="test")
        item = receivable(session, tenant.id, customer(session, tenant.id), external_id="T1",
                          amount="1000.00", due=DUE)  # fmt: skip
        # 30 days early at 1% a.m.: 1000 − 1000 / 1.01 = 9.90 of unaccrued interest (art. 52 §2).
        result = pay(session, tenant, item, "990.10", date(2026, 9, 1))
        p = result.payment
        assert (p.principal, p.discount, p.charges, p.overpaid) == (D("990.10"), D("9.90"), 0, 0)
        assert result.closed

    def test_overpayment_is_flagged_for_refund(self, session: Session, tenant: Tenant) -> None:
        flat_policy(session, tenant.id)
        item = receivable(
            session,
            tenant.id,
            customer(session, tenant.id),
            external_id="T1",
            amount="1000.00",
            due=DUE,
        )
        result = pay(session, tenant, item, "1100.00", LATE)
        p = result.payment
        assert (p.charges, p.principal, p.overpaid) == (D("30.00"), D("1000.00"), D("70.00"))
        assert p.refund_status == RefundStatus.PENDING
        task = session.scalars(select(Task).where(Task.tenant_id == tenant.id)).one()
        assert task.kind == TaskKind.REFUND and task.data["amount"] == "70.00"
        assert task.idempotency_key == f"refund:{p.id}"
        assert task.due_on == add_bank_business_days(LATE, 5)
        assert "R$\xa070,00" in task.title  # Babel pt-BR: no-break space
        actions = set(
            session.scalars(
                select(AuditEvent.action).where(
                    AuditEvent.tenant_id == tenant.id, AuditEvent.entity_id == p.id
                )
            )
        )
        assert {"payment.applied", "payment.overpaid"} <= actions

    def test_payment_of_a_closed_receivable_is_all_overpaid(
        self, session: Session, tenant: Tenant
    ) -> None:
        no_charges_policy(session, tenant.id)
        item = receivable(
            session,
            tenant.id,
            customer(session, tenant.id),
            external_id="T1",
            amount="100.00",
            due=DUE,
        )
        pay(session, tenant, item, "100.00", DUE)
        again = pay(session, tenant, item, "100.00", DUE, external_id="boleto-too")
        assert again.created and again.payment.overpaid == D("100.00")
        assert again.payment.principal == 0 and again.balance == 0
        assert count(session, Task, tenant.id) == 1

    def test_cancelled_receivable_owes_nothing(self, session: Session, tenant: Tenant) -> None:
        item = receivable(
            session,
            tenant.id,
            customer(session, tenant.id),
            external_id="T1",
            amount="100.00",
            due=DUE,
        )
        item.status, item.balance = ReceivableStatus.CANCELLED, D("0.00")
        result = pay(session, tenant, item, "100.00", DUE)
        assert result.payment.overpaid == D("100.00")
        assert item.status == ReceivableStatus.CANCELLED

    def test_written_off_receivable_is_still_owed(self, session: Session, tenant: Tenant) -> None:
        no_charges_policy(session, tenant.id)
        item = receivable(
            session,
            tenant.id,
            customer(session, tenant.id),
            external_id="T1",
            amount="100.00",
            due=DUE,
        )
        item.status = ReceivableStatus.WRITTEN_OFF
        result = pay(session, tenant, item, "100.00", LATE)
        assert result.payment.principal == D("100.00") and result.closed

    def test_missing_index_month_never_refuses_money(
        self, session: Session, tenant: Tenant
    ) -> None:
        # Default policy: IPCA correction; the packaged IPCA ends 2026-09, so October is missing.
        item = receivable(
            session,
            tenant.id,
            customer(session, tenant.id),
            external_id="T1",
            amount="1000.00",
            due=date(2026, 8, 10),
        )
        result = pay(session, tenant, item, "1100.00", date(2026, 11, 23))
        p = result.payment
        assert p.details["provisional_charges"] is True
        assert any("2026-10" in m for m in p.details["missing_index_months"])
        assert p.principal + p.charges + p.overpaid == D("1100.00")
        # September's IPCA (0.82%), the multa and 105 days of juros still count.
        assert p.charges == D("63.65") and p.overpaid == D("36.35") and result.closed


class TestBankBreakdown:
    def test_trusts_juros_and_discounts(self, session: Session, tenant: Tenant) -> None:
        item = receivable(
            session,
            tenant.id,
            customer(session, tenant.id),
            external_id="T1",
            amount="1000.00",
            due=DUE,
        )
        breakdown = PaymentBreakdown(charges=D("20.00"), discount=D("5.00"), rebate=D("5.00"))
        result = pay(
            session,
            tenant,
            item,
            "1010.00",
            LATE,
            breakdown=breakdown,
            source=PaymentSource.CNAB,
            fees=D("2.50"),
        )
        p = result.payment
        assert (p.charges, p.principal, p.discount, p.overpaid) == (
            D("20.00"),
            D("990.00"),
            D("10.00"),
            0,
        )
        assert p.imputation == Imputation.BANK and p.net == D("1007.50") and result.closed

    def test_short_payment_leaves_a_balance(self, session: Session, tenant: Tenant) -> None:
        item = receivable(
            session,
            tenant.id,
            customer(session, tenant.id),
            external_id="T1",
            amount="1000.00",
            due=DUE,
        )
        result = pay(session, tenant, item, "600.00", DUE, breakdown=PaymentBreakdown())
        assert result.balance == D("400.00") and result.receivable_status == ReceivableStatus.OPEN

    @settings(max_examples=200, deadline=None)
    @given(
        gross=st.decimals(min_value=D("0.01"), max_value=D("99999.99"), places=2),
        owed=st.decimals(min_value=D("0.01"), max_value=D("99999.99"), places=2),
        juros=st.decimals(min_value=D(0), max_value=D("9999.99"), places=2),
        desconto=st.decimals(min_value=D(0), max_value=D("9999.99"), places=2),
    )
    def test_money_is_conserved(self, gross: D, owed: D, juros: D, desconto: D) -> None:
        a = allocate_with_breakdown(
            gross=gross, owed=owed, breakdown=PaymentBreakdown(charges=juros, discount=desconto)
        )
        assert a.principal + a.charges + a.overpaid == gross
        assert min(a.principal, a.charges, a.discount, a.overpaid) >= 0
        assert a.principal + a.discount <= owed

    @settings(max_examples=200, deadline=None)
    @given(
        gross=st.decimals(min_value=D("0.01"), max_value=D("99999.99"), places=2),
        owed=st.decimals(min_value=D("0.01"), max_value=D("99999.99"), places=2),
        charges=st.decimals(min_value=D(0), max_value=D("9999.99"), places=2),
    )
    def test_charges_first_conserves_money(self, gross: D, owed: D, charges: D) -> None:
        a = allocate_charges_first(gross=gross, owed=owed, charges_due=charges)
        assert a.principal + a.charges + a.overpaid == gross
        assert a.charges == min(gross, charges)  # CC art. 354: charges before principal
        assert a.overpaid == max(D(0), gross - owed - charges)
        assert 0 <= a.principal <= owed


class TestIdempotency:
    def test_same_external_id_changes_nothing(self, session: Session, tenant: Tenant) -> None:
        no_charges_policy(session, tenant.id)
        item = receivable(
            session,
            tenant.id,
            customer(session, tenant.id),
            external_id="T1",
            amount="100.00",
            due=DUE,
        )
        first = pay(session, tenant, item, "60.00", DUE, external_id="pix:E1")
        audits = count(session, AuditEvent, tenant.id)
        again = pay(session, tenant, item, "60.00", DUE, external_id="pix:E1")
        assert not again.created and again.payment.id == first.payment.id
        assert (
            count(session, Payment, tenant.id) == 1
            and count(session, AuditEvent, tenant.id) == audits
        )
        assert item.balance == D("40.00")

    def test_same_id_other_amount_is_a_conflict(self, session: Session, tenant: Tenant) -> None:
        item = receivable(
            session,
            tenant.id,
            customer(session, tenant.id),
            external_id="T1",
            amount="100.00",
            due=DUE,
        )
        pay(session, tenant, item, "60.00", DUE, external_id="pix:E1")
        with pytest.raises(Conflict):
            pay(session, tenant, item, "61.00", DUE, external_id="pix:E1")

    def test_other_tenants_receivable_is_not_found(self, session: Session, tenant: Tenant) -> None:
        from adimple.tenancy.service import create_tenant

        other = create_tenant(
            session,
            slug="outro-credor",
            legal_name="Outro Ltda",
            document="11.444.777/0001-61",
            address="Rua B, 2",
            city="Rio de Janeiro",
            uf="RJ",
        )
        item = receivable(
            session,
            other.id,
            customer(session, other.id),
            external_id="T1",
            amount="100.00",
            due=DUE,
        )
        with pytest.raises(NotFound):
            pay(session, tenant, item, "100.00", DUE)

    def test_batch_applies_in_order(self, session: Session, tenant: Tenant) -> None:
        no_charges_policy(session, tenant.id)
        owner = customer(session, tenant.id)
        a = receivable(session, tenant.id, owner, external_id="A", amount="100.00", due=DUE)
        b = receivable(session, tenant.id, owner, external_id="B", amount="50.00", due=DUE)
        items = [
            PaymentInput(a.id, D("60.00"), DUE, PaymentSource.MANUAL, "m1"),
            PaymentInput(a.id, D("60.00"), DUE, PaymentSource.MANUAL, "m2"),
            PaymentInput(b.id, D("50.00"), DUE, PaymentSource.MANUAL, "m3"),
            PaymentInput(b.id, D("50.00"), DUE, PaymentSource.MANUAL, "m3"),  # repeated
        ]
        results = apply_payments(session, tenant_id=tenant.id, items=items, actor="test")
        assert [r.created for r in results] == [True, True, True, False]
        assert results[1].payment.overpaid == D("20.00")
        assert a.status == b.status == ReceivableStatus.PAID


class TestSettlementEffects:
    def test_cures_case_cancels_messages_schedules_bureau_removal(
        self, session: Session, tenant: Tenant
    ) -> None:
        no_charges_policy(session, tenant.id)
        owner = customer(session, tenant.id)
        item = receivable(session, tenant.id, owner, external_id="T1", amount="100.00", due=DUE)
        case = open_case(session, tenant.id, owner, DUE)
        message = queued_message(session, tenant.id, owner, [item])
        record = active_bureau_record(session, tenant.id, owner, item)
        result = pay(session, tenant, item, "100.00", LATE)
        assert result.effects is not None
        assert (result.effects.cured_cases, result.effects.bureau_removals) == (1, 1)
        session.refresh(message)
        assert message.status == OutboxStatus.CANCELLED and message.cancel_reason == "paid"
        assert case.status == CaseStatus.CURED
        assert record.status == BureauStatus.REMOVAL_PENDING
        assert record.removal_due_on == add_bank_business_days(LATE, 5)  # STJ Súmula 548

    def test_partial_payment_keeps_the_case_open(self, session: Session, tenant: Tenant) -> None:
        no_charges_policy(session, tenant.id)
        owner = customer(session, tenant.id)
        item = receivable(session, tenant.id, owner, external_id="T1", amount="100.00", due=DUE)
        case = open_case(session, tenant.id, owner, DUE)
        message = queued_message(session, tenant.id, owner, [item])
        pay(session, tenant, item, "40.00", LATE)
        session.refresh(message)
        assert case.status == CaseStatus.OPEN and message.status == OutboxStatus.QUEUED


class TestImportPathAgrees:
    def _import(self, session: Session, tenant: Tenant, external_id: str, amount: str) -> None:
        portfolio.bulk_upsert(
            session,
            tenant_id=tenant.id,
            kind=ImportKind.PAYMENTS,
            items=[
                PaymentCreate(
                    external_id=external_id,
                    receivable_external_id="T1",
                    paid_on=DUE,
                    amount=D(amount),
                )
            ],
            actor="test",
        )
        session.expire_all()

    def test_imported_payments_fill_principal_and_overpaid(
        self, session: Session, tenant: Tenant
    ) -> None:
        item = receivable(
            session,
            tenant.id,
            customer(session, tenant.id),
            external_id="T1",
            amount="100.00",
            due=DUE,
        )
        self._import(session, tenant, "P1", "70.00")
        self._import(session, tenant, "P2", "50.00")
        rows = {
            p.external_id: p
            for p in session.scalars(select(Payment).where(Payment.tenant_id == tenant.id))
        }
        assert (rows["P1"].principal, rows["P1"].overpaid) == (D("70.00"), 0)
        assert (rows["P2"].principal, rows["P2"].overpaid) == (D("30.00"), D("20.00"))
        assert rows["P2"].refund_status == RefundStatus.PENDING
        assert rows["P2"].imputation == Imputation.PRINCIPAL_ONLY
        session.refresh(item)
        assert item.status == ReceivableStatus.PAID and item.balance == 0

        # Estorno of P1: P2 is allocated again and the receivable reopens.
        portfolio.delete_payment(
            session, tenant_id=tenant.id, payment_id=rows["P1"].id, actor="test"
        )
        p2 = session.scalars(select(Payment).where(Payment.tenant_id == tenant.id)).one()
        assert (p2.principal, p2.overpaid, p2.refund_status) == (D("50.00"), 0, RefundStatus.NONE)
        session.refresh(item)
        assert item.status == ReceivableStatus.OPEN and item.balance == D("50.00")

    def test_settled_and_imported_payments_share_one_balance(
        self, session: Session, tenant: Tenant
    ) -> None:
        no_charges_policy(session, tenant.id)
        item = receivable(
            session,
            tenant.id,
            customer(session, tenant.id),
            external_id="T1",
            amount="100.00",
            due=DUE,
        )
        pay(session, tenant, item, "60.00", DUE, external_id="pix:E1")
        self._import(session, tenant, "P1", "60.00")
        imported = session.scalars(
            select(Payment).where(Payment.tenant_id == tenant.id).where(Payment.external_id == "P1")
        ).one()
        assert (imported.principal, imported.overpaid) == (D("40.00"), D("20.00"))
        session.refresh(item)
        assert item.status == ReceivableStatus.PAID and item.balance == 0

    def test_estorno_cancels_the_pending_refund(self, session: Session, tenant: Tenant) -> None:
        no_charges_policy(session, tenant.id)
        item = receivable(
            session,
            tenant.id,
            customer(session, tenant.id),
            external_id="T1",
            amount="100.00",
            due=DUE,
        )
        pay(session, tenant, item, "100.00", DUE, external_id="pix:E1")
        extra = pay(session, tenant, item, "100.00", DUE, external_id="pix:E2")
        portfolio.delete_payment(
            session, tenant_id=tenant.id, payment_id=extra.payment.id, actor="test"
        )
        task = session.scalars(select(Task).where(Task.tenant_id == tenant.id)).one()
        assert task.status == "cancelled"
        session.refresh(item)
        assert item.status == ReceivableStatus.PAID

    def test_imported_payment_that_closes_has_the_settlement_effects(
        self, session: Session, tenant: Tenant
    ) -> None:
        owner = customer(session, tenant.id)
        item = receivable(session, tenant.id, owner, external_id="T1", amount="100.00", due=DUE)
        case = open_case(session, tenant.id, owner, DUE)
        message = queued_message(session, tenant.id, owner, [item])
        record = active_bureau_record(session, tenant.id, owner, item)
        self._import(session, tenant, "P1", "40.00")  # partial: nothing changes yet
        session.refresh(message)
        assert message.status == OutboxStatus.QUEUED
        portfolio.bulk_upsert(
            session,
            tenant_id=tenant.id,
            kind=ImportKind.PAYMENTS,
            items=[
                PaymentCreate(
                    external_id="P2", receivable_external_id="T1", paid_on=LATE, amount=D("60.00")
                )
            ],
            actor="test",
        )
        session.expire_all()
        assert session.get(type(message), message.id).status == OutboxStatus.CANCELLED
        assert session.get(type(case), case.id).status == CaseStatus.CURED
        bureau = session.get(type(record), record.id)
        assert bureau.status == BureauStatus.REMOVAL_PENDING
        assert bureau.removal_due_on == add_bank_business_days(LATE, 5)


payment_steps = st.lists(
    st.tuples(
        st.decimals(min_value=D("0.01"), max_value=D("400.00"), places=2),
        st.integers(min_value=-10, max_value=90),  # days after the due date
        st.booleans(),  # with a bank breakdown (CNAB) or not (PIX)
        st.decimals(min_value=D(0), max_value=D("20.00"), places=2),  # juros in the breakdown
    ),
    min_size=1,
    max_size=6,
)


@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
@given(steps=payment_steps)
def test_any_sequence_of_payments_keeps_the_books(
    session: Session, tenant: Tenant, steps: list[tuple[D, int, bool, D]]
) -> None:
    """Whatever arrives, in whatever order: money is conserved, the balance is original −
    Σ principal − Σ discount, paid ⇔ nothing left, every overpayment has a refund task."""
    from datetime import timedelta

    flat_policy(session, tenant.id)
    owner = customer(session, tenant.id)
    item = receivable(
        session, tenant.id, owner, external_id=f"H-{uuid4().hex[:10]}", amount="300.00", due=DUE
    )
    for n, (gross, days, with_breakdown, juros) in enumerate(steps):
        breakdown = PaymentBreakdown(charges=min(juros, gross)) if with_breakdown else None
        pay(session, tenant, item, str(gross), DUE + timedelta(days=days),
            external_id=f"{item.external_id}:{n}", breakdown=breakdown)  # fmt: skip
    payments = list(session.scalars(select(Payment).where(Payment.receivable_id == item.id)))
    assert sum(p.principal + p.charges + p.overpaid for p in payments) == sum(
        p.gross for p in payments
    )
    applied = sum((p.principal + p.discount for p in payments), D(0))
    assert item.balance == item.original_amount - applied >= 0
    assert (item.status == ReceivableStatus.PAID) == (item.balance == 0)
    refunds = {
        t.data["payment_id"]
        for t in session.scalars(
            select(Task).where(Task.tenant_id == tenant.id, Task.kind == TaskKind.REFUND)
        )
    }
    assert {str(p.id) for p in payments if p.overpaid > 0} <= refunds
