"""Reconciliation end to end on SQLite and PostgreSQL: receivables → a CNAB return file →
payments, statuses, balances, cases cured, contacts cancelled, bureau removal scheduled,
unmatched movements in the review queue, idempotent re-import."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from recon_helpers import (
    Movement,
    active_bureau_record,
    cnab240,
    cnab400,
    count,
    customer,
    open_case,
    queued_message,
    receivable,
)
from sqlalchemy import select
from sqlalchemy.orm import Session

from adimple.audit.models import AuditEvent
from adimple.cadence.models import BureauStatus, CaseStatus, CreditBureauRecord
from adimple.kit.calendar import add_bank_business_days
from adimple.kit.errors import Conflict
from adimple.messaging.models import OutboxStatus, Task, TaskKind
from adimple.payments.models import CnabFile, ReconciliationItem, ReviewReason, ReviewStatus
from adimple.payments.reconcile import (
    CnabRejected,
    ignore_item,
    normalize_nosso_numero,
    reconcile_cnab,
    resolve_item,
)
from adimple.portfolio.models import (
    Imputation,
    Payment,
    PaymentSource,
    Receivable,
    ReceivableStatus,
    RefundStatus,
)
from adimple.tenancy.models import Tenant

D = Decimal
DUE = date(2026, 11, 10)
PAID_ON = date(2026, 11, 16)
VECTORS = Path(__file__).resolve().parent.parent / "data" / "vectors" / "cnab"


def run(session: Session, tenant: Tenant, content: bytes, name: str = "retorno.ret"):  # type: ignore[no-untyped-def]
    return reconcile_cnab(
        session, tenant_id=tenant.id, filename=name, content=content, actor="test"
    )


def snapshot(session: Session, tenant: Tenant) -> dict[str, int]:
    models = (Payment, ReconciliationItem, Task, AuditEvent, CnabFile)
    return {m.__name__: count(session, m, tenant.id) for m in models}


def by_ext(session: Session, tenant: Tenant, external_id: str) -> Receivable:
    row = session.scalars(
        select(Receivable).where(
            Receivable.tenant_id == tenant.id, Receivable.external_id == external_id
        )
    ).one()
    session.refresh(row)
    return row


@pytest.fixture
def portfolio(session: Session, tenant: Tenant) -> dict[str, object]:
    maria = customer(session, tenant.id, "C-MARIA")
    joao = customer(session, tenant.id, "C-JOAO")
    t1 = receivable(
        session,
        tenant.id,
        maria,
        external_id="T-001",
        amount="100.00",
        due=DUE,
        nosso_numero="12345",
    )
    receivable(
        session,
        tenant.id,
        joao,
        external_id="T-002",
        amount="100.00",
        due=DUE,
        nosso_numero="22223",
    )
    receivable(
        session,
        tenant.id,
        joao,
        external_id="T-003",
        amount="100.00",
        due=DUE,
        nosso_numero="33334-5",
    )
    receivable(
        session,
        tenant.id,
        joao,
        external_id="T-004",
        amount="100.00",
        due=DUE,
        nosso_numero="44444",
    )
    receivable(
        session,
        tenant.id,
        joao,
        external_id="T-005",
        amount="100.00",
        due=DUE,
        nosso_numero="55555",
    )
    return {
        "maria": maria,
        "case": open_case(session, tenant.id, maria, DUE),
        "message": queued_message(session, tenant.id, maria, [t1]),
        "bureau": active_bureau_record(session, tenant.id, maria, t1),
    }


MOVEMENTS = [
    # company number (uso da empresa) matches T-001 even though the nosso número is padded
    Movement(
        "0000000000000012345", paid="100.00", titulo="100.00", uso_empresa="T-001", tarifa="1.50"
    ),
    # nosso número with leading zeros: T-002, partial
    Movement("0000022223", paid="40.00", titulo="100.00"),
    # the bank's field lacks the check digit we stored ("33334-5"); juros paid to the bank
    Movement("000000033334", paid="102.00", titulo="100.00", juros="2.00"),
    # paid twice the amount: overpayment
    Movement("44444", paid="150.00", titulo="100.00"),
    # paid with a discount granted at the bank
    Movement("55555", paid="95.00", titulo="100.00", desconto="5.00"),
    # nobody has this number: review queue
    Movement("99999", paid="70.00", titulo="70.00"),
    # rejected registration: review queue; registration confirmed: counted only
    Movement("66666", codigo="03", motivo="0809"),
    Movement("12345", codigo="02", titulo="100.00"),
]


class TestReconcileCnab240:
    def test_end_to_end(self, session: Session, tenant: Tenant, portfolio: dict) -> None:
        report = run(session, tenant, cnab240("341", MOVEMENTS))
        assert (report.layout, report.bank_code, report.records) == ("cnab240", "341", 8)
        assert report.payments_created == 5 and report.review == 2
        assert report.receivables_paid == 4 and report.partial == 1 and report.overpaid == 1
        assert report.amount_applied == D("487.00") and report.overpaid_amount == D("50.00")
        assert report.occurrences == {"paid": 6, "registered": 1, "rejected": 1}
        assert not report.already_imported

        t1 = by_ext(session, tenant, "T-001")
        assert (t1.status, t1.balance) == (ReceivableStatus.PAID, D("0.00"))
        p1 = session.scalars(
            select(Payment)
            .where(Payment.tenant_id == tenant.id)
            .where(Payment.receivable_id == t1.id)
        ).one()
        assert p1.source == PaymentSource.CNAB and p1.imputation == Imputation.BANK
        assert (p1.gross, p1.fees, p1.net) == (D("100.00"), D("1.50"), D("98.50"))
        assert p1.credited_on == date(2026, 11, 17) and p1.details["match"] == "company_number"
        assert p1.external_id == "cnab:341:0000000000000012345:2026-11-16:06:10000"

        t2 = by_ext(session, tenant, "T-002")
        assert (t2.status, t2.balance) == (ReceivableStatus.OPEN, D("60.00"))
        t3 = by_ext(session, tenant, "T-003")
        p3 = session.scalars(
            select(Payment)
            .where(Payment.tenant_id == tenant.id)
            .where(Payment.receivable_id == t3.id)
        ).one()
        assert (t3.status, p3.charges, p3.principal) == (
            ReceivableStatus.PAID,
            D("2.00"),
            D("100.00"),
        )
        assert p3.details["match"] == "nosso_numero_dv"
        t4 = by_ext(session, tenant, "T-004")
        p4 = session.scalars(
            select(Payment)
            .where(Payment.tenant_id == tenant.id)
            .where(Payment.receivable_id == t4.id)
        ).one()
        assert (p4.principal, p4.overpaid, p4.refund_status) == (
            D("100.00"),
            D("50.00"),
            RefundStatus.PENDING,
        )
        refund = session.scalars(
            select(Task).where(Task.tenant_id == tenant.id).where(Task.kind == TaskKind.REFUND)
        ).one()
        assert refund.data["payment_id"] == str(p4.id)
        t5 = by_ext(session, tenant, "T-005")
        p5 = session.scalars(
            select(Payment)
            .where(Payment.tenant_id == tenant.id)
            .where(Payment.receivable_id == t5.id)
        ).one()
        assert (t5.status, p5.principal, p5.discount) == (
            ReceivableStatus.PAID,
            D("95.00"),
            D("5.00"),
        )

        # Maria paid everything: case cured, queued contact cancelled, bureau removal due in
        # 5 business days (STJ Súmula 548).
        session.refresh(portfolio["case"])
        session.refresh(portfolio["message"])
        session.refresh(portfolio["bureau"])
        assert portfolio["case"].status == CaseStatus.CURED
        assert portfolio["message"].status == OutboxStatus.CANCELLED
        bureau: CreditBureauRecord = portfolio["bureau"]
        assert bureau.status == BureauStatus.REMOVAL_PENDING
        assert bureau.removal_due_on == add_bank_business_days(PAID_ON, 5)

        items = {
            i.nosso_numero: i
            for i in session.scalars(
                select(ReconciliationItem).where(ReconciliationItem.tenant_id == tenant.id)
            )
        }
        assert set(items) == {"99999", "66666"}
        assert items["99999"].reason == ReviewReason.UNMATCHED
        assert items["99999"].amount == D("70.00") and items["99999"].paid_on == PAID_ON
        assert items["66666"].reason == ReviewReason.REJECTED_BY_BANK
        assert all(
            i.status == ReviewStatus.OPEN and i.cnab_file_id == report.file_id
            for i in items.values()
        )

    def test_reimport_is_a_no_op(self, session: Session, tenant: Tenant, portfolio: dict) -> None:
        content = cnab240("341", MOVEMENTS)
        first = run(session, tenant, content)
        before = snapshot(session, tenant)
        again = run(session, tenant, content, name="copia.ret")
        assert again.already_imported and again.file_id == first.file_id
        assert again.first_imported_at is not None and again.payments_created == 0
        assert snapshot(session, tenant) == before
        assert again.as_dict()["occurrences"] == first.as_dict()["occurrences"]

    def test_same_movement_in_another_file_is_not_applied_twice(
        self, session: Session, tenant: Tenant, portfolio: dict
    ) -> None:
        run(session, tenant, cnab240("341", MOVEMENTS))
        before = snapshot(session, tenant)
        # The bank sends the T-004 and the unmatched movements again, with one new payment.
        second = cnab240(
            "341",
            [
                MOVEMENTS[3],
                MOVEMENTS[5],
                Movement("0000022223", paid="60.00", on=date(2026, 11, 18)),
            ],
        )
        report = run(session, tenant, second, name="retorno-2.ret")
        assert report.already_applied == 1 and report.payments_created == 1
        assert report.review == 0  # the unmatched movement is already waiting in the queue
        after = snapshot(session, tenant)
        assert after["Payment"] == before["Payment"] + 1
        assert after["ReconciliationItem"] == before["ReconciliationItem"]
        assert after["Task"] == before["Task"]
        assert by_ext(session, tenant, "T-002").status == ReceivableStatus.PAID

    def test_review_queue_resolve_and_ignore(
        self, session: Session, tenant: Tenant, portfolio: dict
    ) -> None:
        run(session, tenant, cnab240("341", MOVEMENTS))
        unmatched = session.scalars(
            select(ReconciliationItem)
            .where(ReconciliationItem.tenant_id == tenant.id)
            .where(ReconciliationItem.nosso_numero == "99999")
        ).one()
        rejected = session.scalars(
            select(ReconciliationItem)
            .where(ReconciliationItem.tenant_id == tenant.id)
            .where(ReconciliationItem.nosso_numero == "66666")
        ).one()
        t2 = by_ext(session, tenant, "T-002")
        item, result = resolve_item(
            session,
            tenant_id=tenant.id,
            item_id=unmatched.id,
            receivable_id=t2.id,
            actor="operadora",
        )
        assert item.status == ReviewStatus.RESOLVED and item.payment_id == result.payment.id
        assert item.resolved_receivable_id == t2.id and item.resolved_by == "operadora"
        # 60.00 were open: 70.00 pays it and 10.00 go back to the payer.
        assert result.closed and result.payment.overpaid == D("10.00")
        assert result.payment.external_id == unmatched.movement_key
        with pytest.raises(Conflict):
            resolve_item(
                session,
                tenant_id=tenant.id,
                item_id=unmatched.id,
                receivable_id=t2.id,
                actor="operadora",
            )
        with pytest.raises(Conflict):  # nothing to apply in a rejection
            resolve_item(
                session,
                tenant_id=tenant.id,
                item_id=rejected.id,
                receivable_id=t2.id,
                actor="operadora",
            )
        ignored = ignore_item(
            session,
            tenant_id=tenant.id,
            item_id=rejected.id,
            note="boleto reemitido",
            actor="operadora",
        )
        assert ignored.status == ReviewStatus.IGNORED and ignored.note == "boleto reemitido"
        # The resolved movement in a later file is recognised as applied.
        report = run(session, tenant, cnab240("341", [MOVEMENTS[5]]), name="outro.ret")
        assert report.already_applied == 1 and report.review == 0

    def test_ambiguous_numbers_wait_for_a_person(self, session: Session, tenant: Tenant) -> None:
        owner = customer(session, tenant.id)
        receivable(
            session, tenant.id, owner, external_id="A", amount="10.00", due=DUE, nosso_numero="777"
        )
        receivable(
            session, tenant.id, owner, external_id="B", amount="10.00", due=DUE, nosso_numero="0777"
        )
        receivable(
            session, tenant.id, owner, external_id="C", amount="10.00", due=DUE, nosso_numero="888"
        )
        report = run(
            session,
            tenant,
            cnab240(
                "001",
                [
                    Movement("777", paid="10.00"),
                    Movement("888", paid="10.00", uso_empresa="A"),  # company number says A
                ],
            ),
        )
        assert report.payments_created == 0 and report.review == 2
        reasons = [
            i.reason
            for i in session.scalars(
                select(ReconciliationItem).where(ReconciliationItem.tenant_id == tenant.id)
            )
        ]
        assert reasons == [ReviewReason.AMBIGUOUS, ReviewReason.AMBIGUOUS]
        assert all(
            len(i.candidates) == 2
            for i in session.scalars(
                select(ReconciliationItem).where(ReconciliationItem.tenant_id == tenant.id)
            )
        )

    def test_check_digit_match_needs_the_same_titulo_value(
        self, session: Session, tenant: Tenant
    ) -> None:
        # Sequential numbers: our "1234" is not the bank's "12345" with a check digit dropped
        # unless the título's value agrees.
        owner = customer(session, tenant.id)
        receivable(session, tenant.id, owner, external_id="S1", amount="50.00", due=DUE,
                   nosso_numero="1234")  # fmt: skip
        receivable(session, tenant.id, owner, external_id="S2", amount="80.00", due=DUE,
                   nosso_numero="5678")  # fmt: skip
        report = run(session, tenant, cnab240("001", [
            Movement("12345", paid="80.00", titulo="80.00"),  # another título: review
            Movement("56781", paid="80.00", titulo="80.00"),  # same value: applied
        ]))  # fmt: skip
        assert report.payments_created == 1 and report.review == 1
        item = session.scalars(
            select(ReconciliationItem).where(ReconciliationItem.tenant_id == tenant.id)
        ).one()
        assert item.reason == ReviewReason.AMBIGUOUS and item.nosso_numero == "12345"
        assert by_ext(session, tenant, "S1").status == ReceivableStatus.OPEN
        assert by_ext(session, tenant, "S2").status == ReceivableStatus.PAID

    def test_unreadable_file_is_rejected_whole(self, session: Session, tenant: Tenant) -> None:
        content = cnab240("341", MOVEMENTS)
        with pytest.raises(CnabRejected, match="truncated"):
            run(session, tenant, content[: len(content) // 2], name="cortado.ret")
        assert count(session, CnabFile, tenant.id) == 0 and count(session, Payment, tenant.id) == 0


class TestReconcileCnab400:
    def test_bradesco_check_digit_p(self, session: Session, tenant: Tenant) -> None:
        owner = customer(session, tenant.id)
        receivable(
            session,
            tenant.id,
            owner,
            external_id="T-9",
            amount="180.00",
            due=DUE,
            nosso_numero="5135000000-4",
        )
        report = run(
            session,
            tenant,
            cnab400(
                "237",
                [
                    Movement(
                        "51350000004P",
                        paid="181.00",
                        titulo="180.00",
                        juros="1.00",
                        seu_numero="1146",
                    ),
                ],
            ),
        )
        assert report.payments_created == 1 and report.receivables_paid == 1
        assert by_ext(session, tenant, "T-9").status == ReceivableStatus.PAID

    def test_itau_vector_gross_is_net_plus_fee(self, session: Session, tenant: Tenant) -> None:
        owner = customer(session, tenant.id)
        receivable(
            session,
            tenant.id,
            owner,
            external_id="I-11",
            amount="40.00",
            due=date(2013, 5, 10),
            nosso_numero="11",
        )
        receivable(
            session,
            tenant.id,
            owner,
            external_id="I-35",
            amount="40.00",
            due=date(2013, 5, 10),
            nosso_numero="00000035",
        )
        report = run(session, tenant, (VECTORS / "CNAB400ITAU.RET").read_bytes(), "ITAU.RET")
        paid = report.occurrences["paid"]
        assert report.payments_created == 2 and report.receivables_paid == 2
        assert report.review == paid - 2  # every other liquidação waits for a person
        payment = session.scalars(
            select(Payment).where(Payment.tenant_id == tenant.id).order_by(Payment.external_id)
        ).first()
        assert payment is not None
        assert (payment.gross, payment.fees, payment.net) == (D("40.00"), D("2.10"), D("37.90"))

    def test_cnab240_vector_unmatched_goes_to_review(
        self, session: Session, tenant: Tenant
    ) -> None:
        content = (VECTORS / "CNAB240.RET").read_bytes()
        report = run(session, tenant, content, "CNAB240.RET")
        assert report.payments_created == 0 and report.review == report.records == 35
        assert run(session, tenant, content).already_imported


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("000123-4", "1234"),
        ("109/00000011-8", "109000000118"),
        ("51350000004p", "51350000004P"),
        ("0000", ""),
        (None, ""),
    ],
)
def test_normalize_nosso_numero(raw: str | None, key: str) -> None:
    assert normalize_nosso_numero(raw) == key
