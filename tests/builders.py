"""Builders of real rows for tests (importable as ``builders`` from every test directory)."""

from __future__ import annotations

import itertools
import uuid
from datetime import date, datetime, time
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


def make_tenant(session: Session, prefix: str = "t", **fields: Any) -> Tenant:
    """A creditor with every identification CDC art. 42-A asks for, under a fresh slug."""
    from adimple.tenancy.service import create_tenant

    values: dict[str, Any] = {
        "legal_name": "Loja Exemplo Comércio Ltda",
        "document": "11.222.333/0001-81",
        "address": "Rua Augusta, 100",
        "city": "São Paulo",
        "uf": "SP",
        **fields,
    }
    return create_tenant(session, slug=f"{prefix}-{uuid.uuid4().hex[:8]}", **values)


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


def install_cadence(
    session: Session, tenant: Tenant, name: str, steps: list[dict[str, Any]]
) -> uuid.UUID:
    """A cadence with one version, written as rows (the YAML library is tested on its own)."""
    from adimple.cadence.models import Cadence, CadenceStep, CadenceVersion, StepAction

    cadence = Cadence(tenant_id=tenant.id, name=name, current_version=1)
    session.add(cadence)
    session.flush()
    version = CadenceVersion(
        tenant_id=tenant.id,
        cadence_id=cadence.id,
        version=1,
        definition={"name": name, "steps": steps},
        created_at=utcnow(),
        created_by="test",
    )
    session.add(version)
    session.flush()
    ordered = sorted(enumerate(steps), key=lambda pair: (pair[1]["offset_days"], pair[0]))
    for position, (_, step) in enumerate(ordered, start=1):
        session.add(
            CadenceStep(
                tenant_id=tenant.id,
                cadence_version_id=version.id,
                position=position,
                step_key=step["id"],
                offset_days=step["offset_days"],
                channels=list(step.get("channels", [])),
                action=StepAction(step["action"]) if step.get("action") else None,
                template=step.get("template"),
                min_balance=Decimal(step["min_balance"]) if step.get("min_balance") else None,
                segments=step.get("segments"),
                score_bands=step.get("score_bands"),
                only_business_days=bool(step.get("only_business_days", False)),
            )
        )
    session.flush()
    return version.id


def install_segments(session: Session, tenant: Tenant, rows: list[tuple[Any, ...]]) -> None:
    """``rows`` of (code, kind, priority, cadence name[, params])."""
    from adimple.cadence.models import Segment

    for row in rows:
        code, kind, priority, cadence_name = row[:4]
        params = row[4] if len(row) > 4 else {}
        session.add(
            Segment(
                tenant_id=tenant.id,
                code=code,
                name=code,
                priority=priority,
                kind=kind,
                params=params,
                cadence_name=cadence_name,
            )
        )
    session.flush()


STANDARD_STEPS: list[dict[str, Any]] = [
    {
        "id": "lembrete_d3",
        "offset_days": -3,
        "channels": ["email", "whatsapp"],
        "template": "lembrete_vencimento",
    },
    {"id": "aviso_d1", "offset_days": 1, "channels": ["email", "sms"], "template": "aviso_atraso"},
    {"id": "ligacao_d10", "offset_days": 10, "action": "task_call"},
    {"id": "carta_d30", "offset_days": 30, "channels": ["letter"], "template": "carta_cobranca"},
    {
        "id": "aviso_bureau_d45",
        "offset_days": 45,
        "action": "bureau_notice",
        "template": "aviso_negativacao",
    },
    {"id": "negativar_d60", "offset_days": 60, "action": "bureau_activate"},
]


def install_standard_regua(session: Session, tenant: Tenant) -> None:
    """The issue's example cadence for every overdue segment, and a preventive one."""
    install_cadence(session, tenant, "padrao", STANDARD_STEPS)
    install_segments(
        session,
        tenant,
        [("preventive", "preventive", 0, "padrao"), ("standard", "always", 100, "padrao")],
    )


def sent_message(
    session: Session,
    tenant_id: uuid.UUID,
    customer_id: uuid.UUID,
    moment: datetime,
    *,
    channel: Any,
    address: str,
    key: str,
    **fields: Any,
) -> Any:
    """An outbox row for a contact already attempted at ``moment`` (``status`` sent unless
    given): what the frequency cap and the recent-attempt lookups count."""
    from adimple.messaging.models import OutboxMessage

    values: dict[str, Any] = {
        "step_key": "old",
        "template": "lembrete_vencimento",
        "status": "sent",
        "sent_at": moment,
    }
    values.update(fields)
    message = OutboxMessage(
        tenant_id=tenant_id,
        customer_id=customer_id,
        channel=channel,
        address=address,
        plan_date=moment.date(),
        idempotency_key=key,
        scheduled_for=moment,
        next_attempt_at=moment,
        **values,
    )
    session.add(message)
    return message
