"""Agreements with committed data: the daily cycle breaks a missed agreement and collects again,
and two concurrent creations for one debtor make one agreement (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from adimple.cadence.cycle import run_day
from adimple.cadence.models import CaseStatus, CollectionCase
from adimple.charges.policy import Policy
from adimple.charges.service import save_policy
from adimple.messaging.models import OutboxMessage, OutboxStatus
from adimple.negotiation.models import Agreement, AgreementInstallment, AgreementStatus
from adimple.negotiation.service import AgreementExists, create_agreement
from adimple.payments.settlement import apply_payment
from adimple.portfolio.models import PaymentSource, Receivable, ReceivableStatus
from adimple.tenancy.models import Tenant
from adimple.tenancy.service import create_tenant
from builders import add_contact, install_standard_regua, make_customer, make_receivable

TUESDAY = date(2026, 11, 24)


@pytest.fixture
def world(engine: Engine) -> Iterator[tuple[sessionmaker[Session], uuid.UUID]]:
    factory = sessionmaker(bind=engine, expire_on_commit=False)
    with factory() as session:
        tenant = create_tenant(
            session,
            slug=f"neg-{uuid.uuid4().hex[:8]}",
            legal_name="Loja Exemplo Comércio Ltda",
            document="11.222.333/0001-81",
            address="Rua Augusta, 100",
            city="São Paulo",
            uf="SP",
        )
        install_standard_regua(session, tenant)
        policy = Policy(correction={"index": "none"}, interest={"mode": "monthly_simple"})
        save_policy(session, tenant_id=tenant.id, document=policy, actor="test")
        session.commit()
        yield factory, tenant.id


def _tenant(factory: sessionmaker[Session], tenant_id: uuid.UUID) -> Tenant:
    with factory() as session:
        tenant = session.get_one(Tenant, tenant_id)
        session.expunge(tenant)
        return tenant


def _debtor(session: Session, tenant_id: uuid.UUID) -> uuid.UUID:
    tenant = session.get_one(Tenant, tenant_id)
    customer = make_customer(session, tenant)
    add_contact(session, customer, "email", f"{customer.external_id}@example.com")
    add_contact(session, customer, "phone", "+5511987654321")
    add_contact(session, customer, "address", "Rua das Flores, 10, São Paulo/SP")
    make_receivable(session, customer, date(2026, 11, 2), "600.00")
    make_receivable(session, customer, date(2026, 11, 16), "400.00")
    session.commit()
    return customer.id


def _agree(session: Session, tenant_id: uuid.UUID, customer_id: uuid.UUID, **kw: Any) -> Agreement:
    return create_agreement(
        session,
        tenant_id=tenant_id,
        customer_id=customer_id,
        offer_id="parcelado-3x",
        as_of=TUESDAY,
        channel="portal",
        actor="portal",
        consent={"ip": "203.0.113.7", "terms_version": "2026-11"},
        **kw,
    )


def test_run_day_breaks_the_agreement_and_collection_resumes(
    world: tuple[sessionmaker[Session], uuid.UUID],
) -> None:
    factory, tenant_id = world
    engine = factory.kw["bind"]
    with factory() as session:
        customer_id = _debtor(session, tenant_id)
    run_day(engine, _tenant(factory, tenant_id), TUESDAY)

    with factory() as session:
        agreement = _agree(session, tenant_id, customer_id)
        session.commit()
        queued = session.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(
                OutboxMessage.customer_id == customer_id,
                OutboxMessage.status == OutboxStatus.QUEUED,
            )
        )
        assert queued == 0
        first, second, _ = session.scalars(
            select(Receivable)
            .join(AgreementInstallment, AgreementInstallment.receivable_id == Receivable.id)
            .where(AgreementInstallment.agreement_id == agreement.id)
            .order_by(AgreementInstallment.number)
        ).all()
        apply_payment(
            session,
            tenant_id=tenant_id,
            receivable_id=first.id,
            gross=first.balance,
            paid_on=TUESDAY,
            source=PaymentSource.MANUAL,
            external_id=f"manual:{first.external_id}",
            actor="test",
        )
        session.commit()
        assert session.get_one(Agreement, agreement.id).status == AgreementStatus.ACTIVE
        missed = second.due_date

    # While the agreement is in force nothing is sent and the episode waits, paused: the
    # títulos are suspended, not paid (it is not closed as cured).
    run_day(engine, _tenant(factory, tenant_id), date(2026, 12, 2))
    with factory() as session:
        during = session.scalars(
            select(CollectionCase).where(CollectionCase.customer_id == customer_id)
        ).all()
        assert [(c.status, c.pause_reason) for c in during] == [(CaseStatus.PAUSED, "agreement")]
        queued = session.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(
                OutboxMessage.customer_id == customer_id,
                OutboxMessage.status == OutboxStatus.QUEUED,
            )
        )
        assert queued == 0

    day = missed + timedelta(days=6)  # past the 5 days of tolerance
    run_day(engine, _tenant(factory, tenant_id), day)
    with factory() as session:
        assert session.get_one(Agreement, agreement.id).status == AgreementStatus.BROKEN
        statuses = session.scalars(
            select(Receivable.status).where(
                Receivable.customer_id == customer_id, Receivable.contract.is_(None)
            )
        ).all()
        assert set(statuses) == {ReceivableStatus.OPEN}
        case = session.scalars(
            select(CollectionCase).where(
                CollectionCase.customer_id == customer_id,
                CollectionCase.status == CaseStatus.OPEN,
            )
        ).one()
        assert case.last_step_on == day  # the cycle carried out a step again today
        assert case.id == during[0].id  # the same episode resumed


def test_concurrent_creations_make_one_agreement(
    world: tuple[sessionmaker[Session], uuid.UUID], db_url: str
) -> None:
    factory, tenant_id = world
    with factory() as session:
        customer_id = _debtor(session, tenant_id)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def create(key: str) -> None:
        with factory() as session:
            barrier.wait()
            try:
                _agree(session, tenant_id, customer_id, idempotency_key=key)
                session.commit()
                outcomes.append("created")
            except AgreementExists:
                session.rollback()
                outcomes.append("exists")

    threads = [threading.Thread(target=create, args=(f"key-{n}",)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes) == ["created", "exists"]
    with factory() as session:
        count = session.scalar(
            select(func.count()).select_from(Agreement).where(Agreement.customer_id == customer_id)
        )
        assert count == 1
