"""Builders of real rows for tests (importable as ``builders`` from every test directory)."""

from __future__ import annotations

import itertools
import uuid
from datetime import date, time
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from adimple.db.base import utcnow
from adimple.portfolio.models import (
    ContactKind,
    ContactOwner,
    ContactPoint,
    Customer,
    DocumentKind,
    Payment,
    PaymentSource,
    Receivable,
    ReceivableStatus,
)
from adimple.tenancy.models import Tenant

_counter = itertools.count(1)


def make_customer(session: Session, tenant: Tenant, **fields: Any) -> Customer:
    n = next(_counter)
    values: dict[str, Any] = {
        "external_id": f"C{n:06d}",
        "document": "52998224725",
        "document_kind": DocumentKind.CPF,
        "name": f"Cliente {n}",
        "uf": "SP",
    }
    values.update(fields)
    customer = Customer(tenant_id=tenant.id, **values)
    session.add(customer)
    session.flush()
    return customer


def add_contact(
    session: Session,
    customer: Customer,
    kind: ContactKind | str,
    value: str,
    *,
    owner: ContactOwner = ContactOwner.DEBTOR,
    best_hour_start: time | None = None,
    best_hour_end: time | None = None,
    **fields: Any,
) -> ContactPoint:
    point = ContactPoint(
        tenant_id=customer.tenant_id,
        customer_id=customer.id,
        kind=ContactKind(kind),
        value=value,
        owner=owner,
        best_hour_start=best_hour_start,
        best_hour_end=best_hour_end,
        **fields,
    )
    session.add(point)
    session.flush()
    return point


def make_receivable(
    session: Session,
    customer: Customer,
    due: date,
    amount: str = "100.00",
    *,
    status: ReceivableStatus = ReceivableStatus.OPEN,
    issue: date | None = None,
    **fields: Any,
) -> Receivable:
    n = next(_counter)
    value = Decimal(amount)
    receivable = Receivable(
        tenant_id=customer.tenant_id,
        customer_id=customer.id,
        external_id=fields.pop("external_id", f"R{n:07d}"),
        issue_date=issue or date(due.year - 1, due.month, 1),
        due_date=due,
        original_amount=value,
        balance=value if status == ReceivableStatus.OPEN else Decimal("0.00"),
        status=status,
        **fields,
    )
    session.add(receivable)
    session.flush()
    return receivable


def pay(
    session: Session, receivable: Receivable, paid_on: date, amount: str | None = None
) -> Payment:
    """Records a full (or given) payment and settles the receivable accordingly."""
    gross = Decimal(amount) if amount is not None else receivable.original_amount
    payment = Payment(
        tenant_id=receivable.tenant_id,
        external_id=f"P{uuid.uuid4().hex[:12]}",
        receivable_id=receivable.id,
        customer_id=receivable.customer_id,
        source=PaymentSource.MANUAL,
        gross=gross,
        fees=Decimal("0.00"),
        net=gross,
        paid_on=paid_on,
        details={},
    )
    session.add(payment)
    remaining = max(receivable.balance - gross, Decimal("0.00"))
    receivable.balance = remaining
    if remaining == 0:
        receivable.status = ReceivableStatus.PAID
    receivable.updated_at = utcnow()
    session.flush()
    return payment
