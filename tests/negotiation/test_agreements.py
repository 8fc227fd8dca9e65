"""Agreements (acordos) on SQLite and PostgreSQL: creation from an offer, idempotency, payments
activating and completing it through apply_payment, breach and lapse, reads and isolation."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from adimple.audit.models import AuditEvent
from adimple.cadence.models import Cadence, CadenceVersion, CaseStatus, CollectionCase
from adimple.charges.policy import Policy
from adimple.charges.service import offers_for_customer, save_policy
from adimple.kit.errors import NotFound
from adimple.messaging.models import OutboxMessage, OutboxReceivable, OutboxStatus, Task
from adimple.negotiation import service
from adimple.negotiation.models import (
    Agreement,
    AgreementInstallment,
    AgreementReceivable,
    AgreementStatus,
)
from adimple.negotiation.service import (
    AgreementExists,
    OfferNotAvailable,
    check_agreements,
    create_agreement,
    split_pro_rata,
)
from adimple.payments.billing import service as billing
from adimple.payments.billing.schemas import BillingSettingsInput
from adimple.payments.settlement import (
    PaymentBreakdown,
    PaymentInput,
    apply_payment,
    apply_payments,
)
from adimple.portfolio.models import Channel as ContactChannel
from adimple.portfolio.models import (
    Customer,
    Payment,
    PaymentSource,
    Receivable,
    ReceivableStatus,
)
from adimple.tenancy.models import Tenant
from builders import make_customer, make_receivable

D = Decimal
AS_OF = date(2026, 11, 23)  # a Monday
CONSENT = {
    "ip": "203.0.113.7",
    "user_agent": "Mozilla/5.0",
    "terms_version": "2026-11",
    "terms_text": "Termos do acordo…",
}


def flat_policy(session: Session, tenant: Tenant, **agreements: int) -> None:
    """2% multa, 1% a.m. juros, no correção: offers without index data."""
    policy = Policy(
        correction={"index": "none"},
        interest={"mode": "monthly_simple"},
        agreements=agreements or {"tolerance_days": 5},
    )
    save_policy(session, tenant_id=tenant.id, document=policy, actor="test")


def debtor(session: Session, tenant: Tenant) -> tuple[Customer, list[Receivable]]:
    customer = make_customer(session, tenant)
    originals = [
        make_receivable(session, customer, date(2026, 9, 1), "600.00"),
        make_receivable(session, customer, date(2026, 10, 1), "400.00"),
    ]
    return customer, originals


def paused_case(session: Session, tenant: Tenant, customer: Customer) -> CollectionCase:
    cadence = Cadence(tenant_id=tenant.id, name=f"padrao-{uuid.uuid4().hex[:6]}")
    session.add(cadence)
    session.flush()
    version = CadenceVersion(
        tenant_id=tenant.id,
        cadence_id=cadence.id,
        version=1,
        definition={},
        created_at=datetime.now(UTC),
        created_by="test",
    )
    session.add(version)
    session.flush()
    case = CollectionCase(
        tenant_id=tenant.id,
        customer_id=customer.id,
        status=CaseStatus.OPEN,
        segment="default",
        segment_reason="test",
        cadence_version_id=version.id,
        anchor_due_date=date(2026, 9, 1),
        opened_on=date(2026, 9, 3),
        next_step_on=date(2026, 12, 1),
    )
    session.add(case)
    session.flush()
    return case


def queued(
    session: Session, tenant: Tenant, customer: Customer, items: list[Receivable]
) -> OutboxMessage:
    now = datetime.now(UTC)
    message = OutboxMessage(
        tenant_id=tenant.id,
        customer_id=customer.id,
        channel=ContactChannel.EMAIL,
        address="maria@example.com",
        step_key="d+5",
        template="lembrete",
        plan_date=AS_OF,
        idempotency_key=f"msg:{uuid.uuid4().hex}",
        scheduled_for=now,
        next_attempt_at=now,
        status=OutboxStatus.QUEUED,
    )
    session.add(message)
    session.flush()
    for item in items:
        session.add(
            OutboxReceivable(tenant_id=tenant.id, outbox_id=message.id, receivable_id=item.id)
        )
    session.flush()
    return message


def agree(
    session: Session, tenant: Tenant, customer: Customer, offer_id: str = "parcelado-3x", **kw
):  # type: ignore[no-untyped-def]
    kw.setdefault("as_of", AS_OF)
    kw.setdefault("channel", "portal")
    kw.setdefault("actor", "portal")
    kw.setdefault("consent", CONSENT)
    return create_agreement(
        session, tenant_id=tenant.id, customer_id=customer.id, offer_id=offer_id, **kw
    )


def installments(session: Session, agreement: Agreement) -> list[Receivable]:
    return list(
        session.scalars(
            select(Receivable)
            .join(AgreementInstallment, AgreementInstallment.receivable_id == Receivable.id)
            .where(AgreementInstallment.agreement_id == agreement.id)
            .order_by(AgreementInstallment.number)
        )
    )


def pay(session: Session, tenant: Tenant, item: Receivable, on: date | None = None):  # type: ignore[no-untyped-def]
    return apply_payment(
        session,
        tenant_id=tenant.id,
        receivable_id=item.id,
        gross=item.balance,
        paid_on=on or item.due_date,
        source=PaymentSource.PIX,
        external_id=f"pix:{item.external_id}",
        actor="test",
    )


def paid_amounts(session: Session, item: Receivable) -> tuple[Decimal, Decimal]:
    rows = session.scalars(select(Payment).where(Payment.receivable_id == item.id)).all()
    return sum((p.principal for p in rows), D(0)), sum((p.discount for p in rows), D(0))


class TestCreate:
    def test_originals_suspended_installments_billed_contacts_cancelled(
        self, session: Session, tenant: Tenant
    ) -> None:
        flat_policy(session, tenant)
        customer, originals = debtor(session, tenant)
        case = paused_case(session, tenant, customer)
        message = queued(session, tenant, customer, originals)
        offer = next(
            o
            for o in offers_for_customer(
                session, tenant_id=tenant.id, customer_id=customer.id, as_of=AS_OF
            )
            if o.id == "parcelado-3x"
        )

        agreement = agree(session, tenant, customer)

        assert agreement.number.startswith("AC-") and agreement.status == AgreementStatus.PENDING
        assert agreement.total == offer.total and agreement.installments_count == 3
        assert agreement.tolerance_days == 5
        assert agreement.consent["ip"] == "203.0.113.7"
        assert (
            len(agreement.consent["terms_sha256"]) == 64 and "terms_text" not in agreement.consent
        )
        for original in originals:
            session.refresh(original)
            assert original.status == ReceivableStatus.AGREEMENT
        links = session.scalars(
            select(AgreementReceivable).where(AgreementReceivable.agreement_id == agreement.id)
        ).all()
        assert sorted(link.balance for link in links) == [D("400.00"), D("600.00")]
        parts = installments(session, agreement)
        assert [p.external_id for p in parts] == [
            f"acordo:{agreement.number}:{n}" for n in (1, 2, 3)
        ]
        assert sum((p.original_amount for p in parts), D(0)) == agreement.total
        assert [p.due_date for p in parts] == list(offer.due_dates)
        assert parts[0].description == f"Acordo {agreement.number} — parcela 1/3"
        assert {p.status for p in parts} == {ReceivableStatus.OPEN}
        session.refresh(message)
        assert (message.status, message.cancel_reason) == (OutboxStatus.CANCELLED, "agreement")
        session.refresh(case)
        assert (case.status, case.pause_reason) == (CaseStatus.PAUSED, "agreement")
        event = session.scalars(
            select(AuditEvent).where(
                AuditEvent.entity_id == agreement.id, AuditEvent.action == "agreement.created"
            )
        ).one()
        assert event.data["consent"]["terms_version"] == "2026-11"

        billing.save_settings(
            session,
            tenant_id=tenant.id,
            document=BillingSettingsInput.model_validate(
                {
                    "boleto": {
                        "bank": "341",
                        "agencia": "1234",
                        "conta": "12345",
                        "conta_dv": "6",
                        "carteira": "109",
                    },
                    "pix": {
                        "key": "financeiro@loja.example",
                        "merchant_name": "Loja Exemplo",
                        "merchant_city": "São Paulo",
                    },
                }
            ),
            actor="test",
        )
        found = billing.payment_instructions(
            session, tenant_id=tenant.id, receivable_id=parts[0].id, as_of=AS_OF
        )
        assert found.amount == parts[0].original_amount
        assert found.pix is not None and found.pix.br_code
        assert found.boleto is not None and found.boleto.linha_digitavel

    def test_same_idempotency_key_returns_the_same_agreement(
        self, session: Session, tenant: Tenant
    ) -> None:
        flat_policy(session, tenant)
        customer, _ = debtor(session, tenant)
        first = agree(session, tenant, customer, idempotency_key="k-1")
        again = agree(session, tenant, customer, idempotency_key="k-1")
        assert again.id == first.id
        with pytest.raises(AgreementExists):
            agree(session, tenant, customer, idempotency_key="k-2")
        count = session.scalar(
            select(func.count()).select_from(Agreement).where(Agreement.tenant_id == tenant.id)
        )
        assert count == 1

    def test_numbers_are_sequential_per_tenant(self, session: Session, tenant: Tenant) -> None:
        flat_policy(session, tenant)
        numbers = [agree(session, tenant, debtor(session, tenant)[0]).number for _ in range(3)]
        assert numbers == ["AC-000001", "AC-000002", "AC-000003"]

    def test_offer_no_longer_available(self, session: Session, tenant: Tenant) -> None:
        flat_policy(session, tenant)
        customer, originals = debtor(session, tenant)
        with pytest.raises(OfferNotAvailable, match="não está mais disponível"):
            agree(session, tenant, customer, offer_id="parcelado-99x")
        offer = offers_for_customer(
            session, tenant_id=tenant.id, customer_id=customer.id, as_of=AS_OF
        )[0]
        with pytest.raises(OfferNotAvailable, match="mudou"):
            agree(session, tenant, customer, offer_id=offer.id, expected_total=offer.total - 1)
        # The policy changed since the offers were shown: no 3× plan any more.
        save_policy(
            session,
            tenant_id=tenant.id,
            document=Policy(correction={"index": "none"}, plans={"max_installments": 2}),
            actor="test",
        )
        with pytest.raises(OfferNotAvailable):
            agree(session, tenant, customer, offer_id="parcelado-3x")
        total = select(func.count()).select_from(Agreement).where(Agreement.tenant_id == tenant.id)
        assert session.scalar(total) == 0
        assert {r.status for r in originals} == {ReceivableStatus.OPEN}


class TestPayments:
    def test_first_installment_activates_all_complete(
        self, session: Session, tenant: Tenant
    ) -> None:
        flat_policy(session, tenant)
        customer, originals = debtor(session, tenant)
        case = paused_case(session, tenant, customer)
        agreement = agree(session, tenant, customer)
        parts = installments(session, agreement)

        pay(session, tenant, parts[0])
        session.refresh(agreement)
        assert agreement.status == AgreementStatus.ACTIVE and agreement.activated_at
        view = service.agreement_view(session, agreement, as_of=AS_OF)
        assert [i.status for i in view.installments] == ["paid", "open", "open"]
        assert view.next_installment is not None and view.next_installment.number == 2
        assert view.paid == parts[0].original_amount

        pay(session, tenant, parts[1])
        pay(session, tenant, parts[2])
        session.refresh(agreement)
        assert agreement.status == AgreementStatus.COMPLETED and agreement.completed_at
        for original in originals:
            session.refresh(original)
            assert (original.status, original.balance) == (ReceivableStatus.PAID, D("0.00"))
            principal, discount = paid_amounts(session, original)
            assert original.original_amount - principal - discount == original.balance
            sources = session.scalars(
                select(Payment.source).where(Payment.receivable_id == original.id)
            ).all()
            assert sources == [PaymentSource.AGREEMENT]
        agreement_payments = session.scalars(
            select(Payment).where(
                Payment.customer_id == customer.id, Payment.source == PaymentSource.AGREEMENT
            )
        ).all()
        assert sum((p.gross for p in agreement_payments), D(0)) == agreement.total
        session.refresh(case)
        assert case.status == CaseStatus.CURED
        assert service.is_settled_in_full(session, tenant_id=tenant.id, customer_id=customer.id)
        view = service.agreement_view(session, agreement, as_of=AS_OF)
        assert view.status_label == "Quitado" and view.next_installment is None

    def test_a_batch_of_payments_completes_it(self, session: Session, tenant: Tenant) -> None:
        """The CNAB path: ``apply_payments`` with every installment in one return file."""
        flat_policy(session, tenant)
        customer, originals = debtor(session, tenant)
        agreement = agree(session, tenant, customer)
        items = [
            PaymentInput(
                receivable_id=part.id,
                gross=part.balance,
                paid_on=part.due_date,
                source=PaymentSource.CNAB,
                external_id=f"cnab:{part.external_id}",
                breakdown=PaymentBreakdown(),
            )
            for part in installments(session, agreement)
        ]
        apply_payments(session, tenant_id=tenant.id, items=items, actor="test")
        session.refresh(agreement)
        assert agreement.status == AgreementStatus.COMPLETED
        for original in originals:
            session.refresh(original)
            assert original.status == ReceivableStatus.PAID

    def test_a_vista_with_discount_records_it(self, session: Session, tenant: Tenant) -> None:
        flat_policy(session, tenant)
        customer, originals = debtor(session, tenant)
        agreement = agree(session, tenant, customer, offer_id="a-vista")
        assert agreement.discount > 0
        (part,) = installments(session, agreement)
        pay(session, tenant, part)
        session.refresh(agreement)
        assert agreement.status == AgreementStatus.COMPLETED
        for original in originals:
            session.refresh(original)
            principal, discount = paid_amounts(session, original)
            assert original.balance == 0
            assert original.original_amount - principal - discount == 0

    def test_not_settled_in_full_while_the_agreement_runs(
        self, session: Session, tenant: Tenant
    ) -> None:
        flat_policy(session, tenant)
        customer, _ = debtor(session, tenant)
        agreement = agree(session, tenant, customer)
        pay(session, tenant, installments(session, agreement)[0])
        assert not service.is_settled_in_full(session, tenant_id=tenant.id, customer_id=customer.id)


class TestBreach:
    def test_missed_installment_breaks_and_restores_collection(
        self, session: Session, tenant: Tenant
    ) -> None:
        flat_policy(session, tenant)
        customer, originals = debtor(session, tenant)
        case = paused_case(session, tenant, customer)
        agreement = agree(session, tenant, customer)
        parts = installments(session, agreement)
        pay(session, tenant, parts[0])
        first_paid = parts[0].original_amount

        within = parts[1].due_date + timedelta(days=5)
        assert check_agreements(session, tenant_id=tenant.id, on=within)["broken"] == []
        result = check_agreements(session, tenant_id=tenant.id, on=within + timedelta(days=1))
        assert result["broken"] == [agreement.number]

        session.refresh(agreement)
        assert agreement.status == AgreementStatus.BROKEN and agreement.broken_at
        assert "parcela 2" in (agreement.ended_reason or "")
        for part in parts[1:]:
            session.refresh(part)
            assert part.status == ReceivableStatus.CANCELLED
        oldest, newer = originals
        session.refresh(oldest)
        session.refresh(newer)
        # What was paid goes to the oldest original first (CC art. 355).
        assert oldest.status == ReceivableStatus.OPEN
        assert oldest.balance == D("600.00") - min(first_paid, D("600.00"))
        assert newer.status == ReceivableStatus.OPEN
        assert newer.balance == D("400.00") - max(D(0), first_paid - D("600.00"))
        for original in originals:
            principal, discount = paid_amounts(session, original)
            assert original.original_amount - principal - discount == original.balance
        session.refresh(case)
        assert case.status == CaseStatus.OPEN and case.next_step_on == within + timedelta(days=1)
        task = session.scalars(select(Task).where(Task.customer_id == customer.id)).one()
        assert task.title.startswith(f"Acordo {agreement.number} rompido")
        # Idempotent: nothing more happens on a later check.
        later = check_agreements(session, tenant_id=tenant.id, on=within + timedelta(days=30))
        assert later["broken"] == [] and later["lapsed"] == []
        view = service.agreement_view(session, agreement, as_of=within + timedelta(days=1))
        assert [i.status for i in view.installments] == ["paid", "cancelled", "cancelled"]

    def test_pending_agreement_lapses(self, session: Session, tenant: Tenant) -> None:
        flat_policy(session, tenant, tolerance_days=2)
        customer, originals = debtor(session, tenant)
        agreement = agree(session, tenant, customer)
        first = installments(session, agreement)[0]
        result = check_agreements(
            session, tenant_id=tenant.id, on=first.due_date + timedelta(days=3)
        )
        assert result["lapsed"] == [agreement.number]
        session.refresh(agreement)
        assert agreement.status == AgreementStatus.CANCELLED
        for original in originals:
            session.refresh(original)
            assert (original.status, original.balance) == (
                ReceivableStatus.OPEN,
                original.original_amount,
            )
        # A new agreement may now be made.
        assert agree(session, tenant, customer, as_of=first.due_date + timedelta(days=3)).number


class TestReads:
    def test_list_get_and_isolation(self, session: Session, tenant: Tenant) -> None:
        flat_policy(session, tenant)
        customer, _ = debtor(session, tenant)
        other, _ = debtor(session, tenant)
        mine = agree(session, tenant, customer)
        theirs = agree(session, tenant, other)
        assert [
            a.id
            for a in service.list_agreements(session, tenant_id=tenant.id, customer_id=customer.id)
        ] == [mine.id]
        found = service.get_agreement(
            session, tenant_id=tenant.id, customer_id=customer.id, agreement_id=mine.id
        )
        assert found.id == mine.id
        with pytest.raises(NotFound):
            service.get_agreement(
                session, tenant_id=tenant.id, customer_id=customer.id, agreement_id=theirs.id
            )
        with pytest.raises(NotFound):
            service.get_agreement(
                session, tenant_id=uuid.uuid4(), customer_id=None, agreement_id=mine.id
            )
        view = service.agreement_view(session, mine, as_of=AS_OF)
        assert view.status_label == "Aguardando o pagamento da 1ª parcela"
        assert [o.balance_at_agreement for o in view.originals] == [D("600.00"), D("400.00")]
        assert view.as_contract()["installments"][0]["status"] == "open"


@given(
    st.integers(min_value=1, max_value=10_000_000),
    st.lists(st.integers(min_value=1, max_value=5_000_000), min_size=1, max_size=12),
)
def test_pro_rata_shares_add_up_and_never_leave_a_receivable_out(
    total_cents: int, weights_cents: list[int]
) -> None:
    total = D(total_cents) / 100
    shares = split_pro_rata(total, [D(w) / 100 for w in weights_cents])
    assert sum(shares, D(0)) == total
    assert all(s >= 0 for s in shares)
    if total_cents >= len(weights_cents):
        assert all(s > 0 for s in shares)
