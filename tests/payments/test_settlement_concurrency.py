"""Two deliveries of the same payment at once (PostgreSQL, real concurrent transactions): the
second waits for the receivable's row lock, then meets the unique external id and answers with
the first payment — one payment, one balance change."""

from __future__ import annotations

import threading
import uuid
from datetime import date
from decimal import Decimal

import pytest
from recon_helpers import customer, no_charges_policy, receivable
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from adimple.payments.settlement import SettlementResult, apply_payment
from adimple.portfolio.models import Payment, PaymentSource, Receivable, ReceivableStatus
from adimple.tenancy.service import create_tenant


def test_same_payment_twice_at_once(engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite serialises writers (BEGIN IMMEDIATE): no concurrent transactions")
    with Session(engine) as session:
        tenant = create_tenant(session, slug=f"conc-{uuid.uuid4().hex[:8]}", legal_name="C Ltda",
                               document="11.222.333/0001-81", address="Rua A, 1",
                               city="São Paulo", uf="SP")  # fmt: skip
        no_charges_policy(session, tenant.id)
        item = receivable(session, tenant.id, customer(session, tenant.id), external_id="T1",
                          amount="100.00", due=date(2026, 11, 10))  # fmt: skip
        session.commit()
        tenant_id, receivable_id = tenant.id, item.id

    first_applied = threading.Event()
    results: dict[str, tuple[bool, uuid.UUID]] = {}
    errors: list[BaseException] = []

    def deliver(name: str, hold: bool) -> None:
        try:
            with Session(engine) as session:
                if not hold:
                    first_applied.wait(5)
                result: SettlementResult = apply_payment(
                    session,
                    tenant_id=tenant_id,
                    receivable_id=receivable_id,
                    gross=Decimal("100.00"),
                    paid_on=date(2026, 11, 16),
                    source=PaymentSource.PIX,
                    external_id="pix:E-same",
                    actor=name,
                )
                results[name] = (result.created, result.payment.id)
                if hold:
                    first_applied.set()
                    threading.Event().wait(0.5)  # the second is now waiting for our lock
                session.commit()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
            first_applied.set()

    threads = [
        threading.Thread(target=deliver, args=("a", True)),
        threading.Thread(target=deliver, args=("b", False)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors, errors
    assert results["a"][0] and not results["b"][0]
    assert results["b"][1] == results["a"][1]
    with Session(engine) as session:
        payments = session.scalars(select(Payment).where(Payment.tenant_id == tenant_id)).all()
        assert len(payments) == 1 and payments[0].overpaid == 0
        row = session.get(Receivable, receivable_id)
        assert row is not None and row.status == ReceivableStatus.PAID
