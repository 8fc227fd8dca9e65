"""Reconciliation JSON API: CNAB return files, the review queue, and the PIX webhook.

Every reconciliation route is scoped to the caller's tenant (API key); another tenant's review
item is a 404. The PIX webhook authenticates by the API key in its URL (the PSP cannot send our
headers); in production mTLS with the PSP is terminated at the reverse proxy (BCB API Pix
requires it for webhooks), which forwards only ``/api/v1/webhooks/pix/...`` from the PSP.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Header, Query, Request, Response
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from adimple.kit.errors import DomainError
from adimple.payments import pix_webhook, reconcile
from adimple.payments.models import CnabFile, ReconciliationItem, ReviewStatus
from adimple.payments.schemas import (
    CnabFileRead,
    PixWebhookResult,
    ReconcileReportRead,
    ReviewIgnore,
    ReviewItemRead,
    ReviewResolve,
)
from adimple.portfolio.schemas import Page
from adimple.tenancy import service as tenancy
from adimple.web.deps import CurrentActor, CurrentTenant, DbSession
from adimple.web.problems import PROBLEM_RESPONSES

router = APIRouter()

MAX_CNAB_BYTES = 64 * 1024 * 1024  # ~160 000 CNAB 400 records
MAX_WEBHOOK_BYTES = 5 * 1024 * 1024

Limit = Annotated[int, Query(ge=1, le=500, description="Page size.")]
Offset = Annotated[int, Query(ge=0, le=1_000_000_000, description="Rows to skip.")]


class PayloadTooLarge(DomainError):
    status_code = 413
    title = "Conteúdo grande demais"


_TOO_LARGE: dict[int | str, dict[str, Any]] = {
    413: PROBLEM_RESPONSES[422] | {"description": "Body too large"}
}
_BINARY_BODY = {
    "requestBody": {
        "required": True,
        "description": "The return file exactly as the bank delivered it (CNAB 240 or 400).",
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    }
}
_PIX_BODY = {
    "requestBody": {
        "required": True,
        "description": "BCB API Pix webhook notification.",
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["pix"],
                    "properties": {
                        "pix": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["endToEndId", "valor", "horario"],
                                "properties": {
                                    "endToEndId": {"type": "string", "maxLength": 32},
                                    "txid": {"type": "string", "maxLength": 35},
                                    "valor": {"type": "string", "pattern": r"^\d{1,10}\.\d{2}$"},
                                    "horario": {"type": "string", "format": "date-time"},
                                    "infoPagador": {"type": "string"},
                                    "devolucoes": {"type": "array", "items": {"type": "object"}},
                                },
                            },
                        }
                    },
                }
            }
        },
    }
}


R = TypeVar("R", CnabFile, ReconciliationItem)


def _page(
    session: Session, query: Select[R], *, limit: int, offset: int, order_by: Any
) -> tuple[list[R], int]:
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    items = list(session.scalars(query.order_by(*order_by).limit(limit).offset(offset)))
    return items, total


# --- CNAB return files -----------------------------------------------------------------------


@router.post(
    "/reconciliation/cnab",
    status_code=201,
    response_model=ReconcileReportRead,
    tags=["reconciliation"],
    responses={
        200: {
            "description": "The same file was imported before: nothing changed",
            "model": ReconcileReportRead,
        },
        **_TOO_LARGE,
    },
    openapi_extra=_BINARY_BODY,
)
async def import_cnab(
    request: Request,
    response: Response,
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    filename: Annotated[
        str | None, Query(max_length=255, description="Name of the file (for the report).")
    ] = None,
    x_filename: Annotated[str | None, Header(max_length=255)] = None,
) -> dict[str, Any]:
    """Imports a CNAB 240/400 retorno: payments applied, unmatched movements to review.

    201 with the report when the file is new; 200 with the first import's summary when the
    same bytes were imported before (nothing changes).
    """
    content = await _body(request, MAX_CNAB_BYTES)
    name = filename or x_filename or "retorno.ret"
    report = await run_in_threadpool(
        reconcile.reconcile_cnab,
        session,
        tenant_id=tenant.id,
        filename=name,
        content=content,
        actor=actor,
    )
    if report.already_imported:
        response.status_code = 200
    return report.as_dict()


@router.get("/reconciliation/files", response_model=Page[CnabFileRead], tags=["reconciliation"])
def list_files(
    session: DbSession, tenant: CurrentTenant, limit: Limit = 50, offset: Offset = 0
) -> Page[CnabFileRead]:
    query = select(CnabFile).where(CnabFile.tenant_id == tenant.id)
    items, total = _page(
        session,
        query,
        limit=limit,
        offset=offset,
        order_by=(CnabFile.imported_at.desc(), CnabFile.id),
    )
    return Page[CnabFileRead](
        items=[CnabFileRead.model_validate(f) for f in items],
        total=total,
        limit=limit,
        offset=offset,
    )


# --- the review queue ------------------------------------------------------------------------


@router.get("/reconciliation/review", response_model=Page[ReviewItemRead], tags=["reconciliation"])
def list_review(
    session: DbSession,
    tenant: CurrentTenant,
    status: ReviewStatus | None = ReviewStatus.OPEN,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[ReviewItemRead]:
    """The review queue (default: open items, oldest first)."""
    query = select(ReconciliationItem).where(ReconciliationItem.tenant_id == tenant.id)
    if status is not None:
        query = query.where(ReconciliationItem.status == status)
    items, total = _page(
        session,
        query,
        limit=limit,
        offset=offset,
        order_by=(ReconciliationItem.created_at, ReconciliationItem.id),
    )
    return Page[ReviewItemRead](
        items=[ReviewItemRead.model_validate(i) for i in items],
        total=total,
        limit=limit,
        offset=offset,
    )


@router.get(
    "/reconciliation/review/{item_id}", response_model=ReviewItemRead, tags=["reconciliation"]
)
def get_review_item(
    item_id: uuid.UUID, session: DbSession, tenant: CurrentTenant
) -> ReconciliationItem:
    return reconcile.get_item(session, tenant_id=tenant.id, item_id=item_id)


@router.post(
    "/reconciliation/review/{item_id}/resolve",
    response_model=ReviewItemRead,
    tags=["reconciliation"],
)
def resolve_review_item(
    item_id: uuid.UUID,
    body: ReviewResolve,
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
) -> ReconciliationItem:
    """Applies the movement to the receivable a person chose (409 if not open)."""
    item, _ = reconcile.resolve_item(
        session,
        tenant_id=tenant.id,
        item_id=item_id,
        receivable_id=body.receivable_id,
        actor=actor,
        note=body.note,
    )
    return item


@router.post(
    "/reconciliation/review/{item_id}/ignore",
    response_model=ReviewItemRead,
    tags=["reconciliation"],
)
def ignore_review_item(
    item_id: uuid.UUID,
    body: ReviewIgnore,
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
) -> ReconciliationItem:
    """Closes the item without applying anything (409 if not open)."""
    return reconcile.ignore_item(
        session, tenant_id=tenant.id, item_id=item_id, note=body.note, actor=actor
    )


# --- PIX webhook ------------------------------------------------------------------------------


async def _body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"the body has more than {limit} bytes")
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"the body has more than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def _pix(request: Request, token: str, session: DbSession) -> dict[str, int]:
    tenant, key = await run_in_threadpool(tenancy.authenticate_api_key, session, token)
    body = await _body(request, MAX_WEBHOOK_BYTES)
    report = await run_in_threadpool(
        pix_webhook.process_notification,
        session,
        tenant=tenant,
        body=body,
        actor=f"pix-webhook:{key.prefix}",
    )
    return report.as_dict()


_WEBHOOK = {
    "response_model": PixWebhookResult,
    "tags": ["webhooks"],
    "responses": _TOO_LARGE,
    "openapi_extra": _PIX_BODY,
}


@router.post("/webhooks/pix/{token}/pix", **_WEBHOOK)  # type: ignore[arg-type]
async def pix_webhook_callback(request: Request, token: str, session: DbSession) -> Any:
    """Pix received (BCB API Pix webhook; the PSP appends ``/pix`` to the registered URL).

    ``token`` is an API key of the tenant. Idempotent by ``endToEndId``.
    """
    return await _pix(request, token, session)


@router.post("/webhooks/pix/{token}", **_WEBHOOK)  # type: ignore[arg-type]
async def pix_webhook_plain(request: Request, token: str, session: DbSession) -> Any:
    """The same webhook for PSPs that do not append ``/pix``."""
    return await _pix(request, token, session)
