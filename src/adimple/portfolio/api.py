"""Portfolio JSON API: customers, contact points, receivables and payments.

Every route is scoped to the caller's tenant (from its API key); another tenant's id is a 404.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Response
from sqlalchemy import select

from adimple.db.base import utcnow
from adimple.portfolio import repository, service
from adimple.portfolio.import_file import ImportKind
from adimple.portfolio.models import Customer, Payment, Receivable, ReceivableStatus
from adimple.portfolio.schemas import (
    BulkResult,
    ContactPointCreate,
    ContactPointRead,
    CustomerCreate,
    CustomerRead,
    CustomerUpdate,
    Page,
    PaymentCreate,
    PaymentRead,
    ReceivableCreate,
    ReceivableRead,
    ReceivableUpdate,
)
from adimple.web.deps import CurrentActor, CurrentTenant, DbSession

router = APIRouter()

Limit = Annotated[int, Query(ge=1, le=500, description="Page size.")]
Offset = Annotated[int, Query(ge=0, le=1_000_000_000, description="Rows to skip.")]
Partial = Annotated[
    bool, Query(description="Write the valid items and report the others (default: all or none).")
]


def _bulk(result: service.ImportResult) -> BulkResult:
    return BulkResult(
        rows=result.total,
        inserted=result.inserted,
        updated=result.updated,
        unchanged=result.unchanged,
        rejected=result.rejected,
        errors=[e.as_dict() for e in result.errors],
    )


# --- customers -------------------------------------------------------------------------------


@router.get("/customers", response_model=Page[CustomerRead], tags=["customers"])
def list_customers(
    session: DbSession,
    tenant: CurrentTenant,
    limit: Limit = 50,
    offset: Offset = 0,
    document: Annotated[str | None, Query(description="CPF/CNPJ, any punctuation")] = None,
    external_id: str | None = None,
) -> Page[CustomerRead]:
    query = select(Customer).where(Customer.tenant_id == tenant.id)
    if document:
        query = query.where(
            Customer.document == "".join(c for c in document.upper() if c.isalnum())
        )
    if external_id:
        query = query.where(Customer.external_id == external_id)
    items, total = service.page(
        session, query, limit=limit, offset=offset, order_by=Customer.external_id
    )
    return Page[CustomerRead](
        items=[CustomerRead.model_validate(c) for c in items],
        total=total,
        limit=limit,
        offset=offset,
    )


@router.post("/customers", status_code=201, response_model=CustomerRead, tags=["customers"])
def create_customer(
    body: CustomerCreate, session: DbSession, tenant: CurrentTenant, actor: CurrentActor
) -> Customer:
    service.bulk_upsert(
        session, tenant_id=tenant.id, kind=ImportKind.CUSTOMERS, items=[body], actor=actor
    )
    return service.get_customer_by_external_id(
        session, tenant_id=tenant.id, external_id=body.external_id
    )


@router.post("/customers/bulk", response_model=BulkResult, tags=["customers"])
def bulk_customers(
    body: list[CustomerCreate],
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    partial: Partial = False,
) -> BulkResult:
    """Upsert by ``external_id``: the same rules as `adimple import customers`."""
    return _bulk(
        service.bulk_upsert(
            session,
            tenant_id=tenant.id,
            kind=ImportKind.CUSTOMERS,
            items=body,
            actor=actor,
            partial=partial,
        )
    )


@router.get("/customers/{customer_id}", response_model=CustomerRead, tags=["customers"])
def get_customer(customer_id: uuid.UUID, session: DbSession, tenant: CurrentTenant) -> Customer:
    return service.get_customer(session, tenant_id=tenant.id, customer_id=customer_id)


@router.patch("/customers/{customer_id}", response_model=CustomerRead, tags=["customers"])
def update_customer(
    customer_id: uuid.UUID,
    body: CustomerUpdate,
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
) -> Customer:
    return service.update_customer(
        session,
        tenant_id=tenant.id,
        customer_id=customer_id,
        changes=body.model_dump(exclude_unset=True),
        actor=actor,
    )


@router.delete("/customers/{customer_id}", status_code=204, tags=["customers"])
def delete_customer(
    customer_id: uuid.UUID, session: DbSession, tenant: CurrentTenant, actor: CurrentActor
) -> Response:
    service.delete_customer(session, tenant_id=tenant.id, customer_id=customer_id, actor=actor)
    return Response(status_code=204)


@router.get(
    "/customers/{customer_id}/contact-points",
    response_model=list[ContactPointRead],
    tags=["customers"],
)
def list_contact_points(
    customer_id: uuid.UUID, session: DbSession, tenant: CurrentTenant
) -> list[ContactPointRead]:
    points = service.list_contact_points(session, tenant_id=tenant.id, customer_id=customer_id)
    return [ContactPointRead.model_validate(p) for p in points]


@router.post(
    "/customers/{customer_id}/contact-points",
    status_code=201,
    response_model=ContactPointRead,
    tags=["customers"],
)
def add_contact_point(
    customer_id: uuid.UUID,
    body: ContactPointCreate,
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
) -> ContactPointRead:
    point = service.add_contact_point(
        session, tenant_id=tenant.id, customer_id=customer_id, data=body.model_dump(), actor=actor
    )
    return ContactPointRead.model_validate(point)


# --- receivables -----------------------------------------------------------------------------


@router.get("/receivables", response_model=Page[ReceivableRead], tags=["receivables"])
def list_receivables(
    session: DbSession,
    tenant: CurrentTenant,
    limit: Limit = 50,
    offset: Offset = 0,
    status: ReceivableStatus | None = None,
    due_from: date | None = None,
    due_to: date | None = None,
    overdue: Annotated[
        bool, Query(description="Only open receivables past due today (tenant's time zone).")
    ] = False,
    customer_id: uuid.UUID | None = None,
) -> Page[ReceivableRead]:
    today = utcnow().astimezone(ZoneInfo(tenant.timezone)).date()
    query = repository.receivables_query(
        tenant.id,
        status=status,
        due_from=due_from,
        due_to=due_to,
        overdue_on=today if overdue else None,
        customer_id=customer_id,
    )
    items, total = service.page(
        session,
        query,
        limit=limit,
        offset=offset,
        order_by=(Receivable.due_date, Receivable.external_id),
    )
    return Page[ReceivableRead](
        items=[ReceivableRead.model_validate(r) for r in items],
        total=total,
        limit=limit,
        offset=offset,
    )


@router.post("/receivables", status_code=201, response_model=ReceivableRead, tags=["receivables"])
def create_receivable(
    body: ReceivableCreate, session: DbSession, tenant: CurrentTenant, actor: CurrentActor
) -> Receivable:
    service.bulk_upsert(
        session, tenant_id=tenant.id, kind=ImportKind.RECEIVABLES, items=[body], actor=actor
    )
    return service.get_receivable_by_external_id(
        session, tenant_id=tenant.id, external_id=body.external_id
    )


@router.post("/receivables/bulk", response_model=BulkResult, tags=["receivables"])
def bulk_receivables(
    body: list[ReceivableCreate],
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    partial: Partial = False,
) -> BulkResult:
    """Upsert by ``external_id``: the same rules as `adimple import receivables`."""
    return _bulk(
        service.bulk_upsert(
            session,
            tenant_id=tenant.id,
            kind=ImportKind.RECEIVABLES,
            items=body,
            actor=actor,
            partial=partial,
        )
    )


@router.get("/receivables/{receivable_id}", response_model=ReceivableRead, tags=["receivables"])
def get_receivable(
    receivable_id: uuid.UUID, session: DbSession, tenant: CurrentTenant
) -> Receivable:
    return service.get_receivable(session, tenant_id=tenant.id, receivable_id=receivable_id)


@router.patch("/receivables/{receivable_id}", response_model=ReceivableRead, tags=["receivables"])
def update_receivable(
    receivable_id: uuid.UUID,
    body: ReceivableUpdate,
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
) -> Receivable:
    return service.update_receivable(
        session,
        tenant_id=tenant.id,
        receivable_id=receivable_id,
        changes=body.model_dump(exclude_unset=True),
        actor=actor,
    )


# --- payments --------------------------------------------------------------------------------


@router.get("/payments", response_model=Page[PaymentRead], tags=["payments"])
def list_payments(
    session: DbSession,
    tenant: CurrentTenant,
    limit: Limit = 50,
    offset: Offset = 0,
    receivable_id: uuid.UUID | None = None,
    paid_from: date | None = None,
    paid_to: date | None = None,
) -> Page[PaymentRead]:
    query = select(Payment).where(Payment.tenant_id == tenant.id)
    if receivable_id:
        query = query.where(Payment.receivable_id == receivable_id)
    if paid_from:
        query = query.where(Payment.paid_on >= paid_from)
    if paid_to:
        query = query.where(Payment.paid_on <= paid_to)
    items, total = service.page(
        session, query, limit=limit, offset=offset, order_by=(Payment.paid_on, Payment.external_id)
    )
    return Page[PaymentRead](
        items=[PaymentRead.model_validate(p) for p in items],
        total=total,
        limit=limit,
        offset=offset,
    )


@router.post("/payments", status_code=201, response_model=PaymentRead, tags=["payments"])
def create_payment(
    body: PaymentCreate, session: DbSession, tenant: CurrentTenant, actor: CurrentActor
) -> Payment:
    """Baixa: records a payment; the receivable's balance and status follow."""
    service.bulk_upsert(
        session, tenant_id=tenant.id, kind=ImportKind.PAYMENTS, items=[body], actor=actor
    )
    return service.get_payment_by_external_id(
        session, tenant_id=tenant.id, external_id=body.external_id
    )


@router.post("/payments/bulk", response_model=BulkResult, tags=["payments"])
def bulk_payments(
    body: list[PaymentCreate],
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    partial: Partial = False,
) -> BulkResult:
    return _bulk(
        service.bulk_upsert(
            session,
            tenant_id=tenant.id,
            kind=ImportKind.PAYMENTS,
            items=body,
            actor=actor,
            partial=partial,
        )
    )


@router.get("/payments/{payment_id}", response_model=PaymentRead, tags=["payments"])
def get_payment(payment_id: uuid.UUID, session: DbSession, tenant: CurrentTenant) -> Payment:
    return service.get_payment(session, tenant_id=tenant.id, payment_id=payment_id)


@router.delete("/payments/{payment_id}", status_code=204, tags=["payments"])
def delete_payment(
    payment_id: uuid.UUID, session: DbSession, tenant: CurrentTenant, actor: CurrentActor
) -> Response:
    """Estorno: removes a payment entered by mistake; the receivable reopens."""
    service.delete_payment(session, tenant_id=tenant.id, payment_id=payment_id, actor=actor)
    return Response(status_code=204)
