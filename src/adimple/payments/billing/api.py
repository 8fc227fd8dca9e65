"""JSON API of billing: the tenant's settings and, per receivable, the payment instructions,
the boleto PDF and the PIX QR code."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query
from fastapi.responses import Response

from adimple.payments.billing import service
from adimple.payments.billing.schemas import (
    BillingSettingsInput,
    BillingSettingsRead,
    PaymentInstructionsRead,
)
from adimple.web.deps import CurrentActor, CurrentTenant, DbSession
from adimple.web.problems import PROBLEM_RESPONSES

router = APIRouter(tags=["billing"])

# A PSP refusal or outage is reported as 502 with the PSP's status and problem details.
PSP_RESPONSES: dict[int | str, dict[str, Any]] = {
    502: {
        "description": "The PSP refused or failed the call (psp_status, psp_problem)",
        "content": PROBLEM_RESPONSES[422]["content"],
    },
}

AsOf = Annotated[
    date | None,
    Query(
        description="Reading date (YYYY-MM-DD); default today in the creditor's time zone.",
        ge=date(2000, 1, 1),
        le=date(2099, 12, 31),
    ),
]


def _today(tenant_tz: str) -> date:
    return datetime.now(ZoneInfo(tenant_tz)).date()


@router.get("/billing/settings", response_model=BillingSettingsRead)
def get_settings(session: DbSession, tenant: CurrentTenant) -> BillingSettingsRead:
    """Configuração de boleto/PIX do credor (o segredo do PSP nunca é devolvido)."""
    return service.settings_read(service.get_settings(session, tenant_id=tenant.id))


@router.put("/billing/settings", response_model=BillingSettingsRead)
def put_settings(
    body: BillingSettingsInput, session: DbSession, tenant: CurrentTenant, actor: CurrentActor
) -> BillingSettingsRead:
    """Grava a configuração inteira (omitir psp.client_secret mantém o segredo gravado)."""
    row = service.save_settings(session, tenant_id=tenant.id, document=body, actor=actor)
    return service.settings_read(row)


@router.get(
    "/receivables/{receivable_id}/payment-instructions",
    response_model=PaymentInstructionsRead,
    responses=PSP_RESPONSES,
)
def payment_instructions(
    receivable_id: uuid.UUID, session: DbSession, tenant: CurrentTenant, as_of: AsOf = None
) -> dict[str, Any]:
    """Boleto e PIX do título: valor (atualizado se vencido), vencimento, códigos."""
    found = service.payment_instructions(
        session,
        tenant_id=tenant.id,
        receivable_id=receivable_id,
        as_of=as_of or _today(tenant.timezone),
    )
    return found.as_contract()


@router.get(
    "/receivables/{receivable_id}/boleto.pdf",
    response_class=Response,
    responses={
        200: {"content": {"application/pdf": {}}, "description": "Boleto (ficha de compensação)"},
        **PSP_RESPONSES,
    },
)
def boleto_pdf(
    receivable_id: uuid.UUID, session: DbSession, tenant: CurrentTenant, as_of: AsOf = None
) -> Response:
    """O boleto do título em PDF, com a identificação do credor (CDC art. 42-A)."""
    pdf = service.boleto_pdf(
        session,
        tenant_id=tenant.id,
        receivable_id=receivable_id,
        as_of=as_of or _today(tenant.timezone),
    )
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="boleto-{receivable_id}.pdf"'},
    )


@router.get(
    "/receivables/{receivable_id}/pix-qr.svg",
    response_class=Response,
    responses={
        200: {"content": {"image/svg+xml": {}}, "description": "QR code do Pix Copia e Cola"},
        **PSP_RESPONSES,
    },
)
def pix_qr(
    receivable_id: uuid.UUID, session: DbSession, tenant: CurrentTenant, as_of: AsOf = None
) -> Response:
    """O QR code PIX do título (SVG)."""
    from adimple.payments.pix.qr import qr_svg

    found = service.payment_instructions(
        session,
        tenant_id=tenant.id,
        receivable_id=receivable_id,
        as_of=as_of or _today(tenant.timezone),
    )
    if found.pix is None or not found.pix.br_code:
        raise service.BillingNotConfigured("PIX não configurado para este credor (pix.key)")
    return Response(qr_svg(found.pix.br_code), media_type="image/svg+xml")
