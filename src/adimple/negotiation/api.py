"""JSON API of agreements (acordos): list and create a customer's, read one."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Header
from pydantic import BaseModel, Field

from adimple.negotiation import service
from adimple.negotiation.models import AgreementChannel
from adimple.web.deps import CurrentActor, CurrentTenant, DbSession

router = APIRouter(tags=["agreements"])


class AgreementCreate(BaseModel):
    """The operator closes an agreement on one of the customer's current offers."""

    offer_id: str = Field(min_length=1, max_length=40, examples=["parcelado-3x"])
    as_of: date | None = Field(default=None, description="Data da negociação; padrão: hoje.")
    note: str | None = Field(default=None, max_length=500, description="Como o aceite foi obtido.")


class InstallmentRead(BaseModel):
    number: int
    due_date: date
    amount: str
    status: str
    status_label: str
    receivable_id: uuid.UUID
    balance: str
    paid_on: date | None


class OriginalRead(BaseModel):
    receivable_id: uuid.UUID
    external_id: str
    contract: str | None
    description: str | None
    due_date: date
    original_amount: str
    balance_at_agreement: str
    status: str


class AgreementRead(BaseModel):
    id: uuid.UUID
    customer_id: uuid.UUID
    number: str
    status: str
    status_label: str
    channel: str
    offer_id: str
    offer_label: str
    created_on: date
    activated_at: datetime | None
    completed_at: datetime | None
    broken_at: datetime | None
    ended_reason: str | None
    installments_count: int
    total: str
    discount: str
    paid: str
    remaining: str
    installments: list[InstallmentRead]
    originals: list[OriginalRead]
    next_installment: InstallmentRead | None


def _read(data: dict[str, Any]) -> AgreementRead:
    return AgreementRead.model_validate(data)


@router.get("/customers/{customer_id}/agreements", response_model=list[AgreementRead])
def list_agreements(
    customer_id: uuid.UUID, session: DbSession, tenant: CurrentTenant
) -> list[AgreementRead]:
    """Acordos do devedor, do mais novo para o mais antigo."""
    return [
        _read(service.agreement_view(session, a).as_contract())
        for a in service.list_agreements(session, tenant_id=tenant.id, customer_id=customer_id)
    ]


@router.post("/customers/{customer_id}/agreements", status_code=201, response_model=AgreementRead)
def create_agreement(
    customer_id: uuid.UUID,
    body: AgreementCreate,
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            max_length=200,
            description="Repetir a chamada com a mesma chave devolve o mesmo acordo.",
        ),
    ] = None,
) -> AgreementRead:
    """Fecha um acordo com uma das propostas atuais (409 se a proposta mudou ou se já há um
    acordo em andamento)."""
    today = datetime.now(ZoneInfo(tenant.timezone)).date()
    consent: dict[str, Any] = {"recorded_by": actor, "via": "operator"}
    if body.note:
        consent["note"] = body.note
    agreement = service.create_agreement(
        session,
        tenant_id=tenant.id,
        customer_id=customer_id,
        offer_id=body.offer_id,
        as_of=body.as_of or today,
        channel=AgreementChannel.OPERATOR,
        actor=actor,
        consent=consent,
        idempotency_key=idempotency_key,
    )
    return _read(service.agreement_view(session, agreement).as_contract())


@router.get("/agreements/{agreement_id}", response_model=AgreementRead)
def get_agreement(
    agreement_id: uuid.UUID, session: DbSession, tenant: CurrentTenant
) -> AgreementRead:
    """Um acordo do credor, com as parcelas e os títulos que substituiu."""
    agreement = service.get_agreement(
        session, tenant_id=tenant.id, customer_id=None, agreement_id=agreement_id
    )
    return _read(service.agreement_view(session, agreement).as_contract())
