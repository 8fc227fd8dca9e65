"""API shapes for reconciliation and the PIX webhook (money as "123.45", dates ISO)."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field

from adimple.payments.models import ReviewReason, ReviewSource, ReviewStatus
from adimple.portfolio.schemas import MoneyOut


class ReconcileReportRead(BaseModel):
    file: str
    file_id: uuid.UUID | None
    layout: str
    bank_code: str
    sha256: str
    records: int
    payments_created: int
    already_applied: int = Field(description="Movements already recorded (e.g. another file).")
    amount_applied: str
    receivables_paid: int
    partial: int
    overpaid: int
    overpaid_amount: str
    review: int = Field(description="Movements put in the review queue by this file.")
    occurrences: dict[str, int] = Field(description="Records per kind (paid, registered, …).")
    already_imported: bool
    first_imported_at: datetime | None


class CnabFileRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    filename: str
    sha256: str
    layout: str
    bank_code: str
    record_count: int
    imported_at: datetime
    imported_by: str
    summary: dict[str, object]


class ReviewItemRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    source: ReviewSource
    reason: ReviewReason
    status: ReviewStatus
    detail: str | None
    cnab_file_id: uuid.UUID | None
    pix_notification_id: uuid.UUID | None
    line: int | None
    nosso_numero: str | None
    company_number: str | None
    txid: str | None
    codigo_ocorrencia: str | None
    amount: MoneyOut | None
    paid_on: date | None
    candidates: list[str]
    resolved_receivable_id: uuid.UUID | None
    payment_id: uuid.UUID | None
    resolved_by: str | None
    resolved_at: datetime | None
    note: str | None
    created_at: datetime


class ReviewResolve(BaseModel):
    receivable_id: uuid.UUID = Field(description="The receivable the movement pays.")
    note: str | None = Field(default=None, max_length=2000)


class ReviewIgnore(BaseModel):
    note: str = Field(min_length=1, max_length=2000, description="Why (e.g. refunded).")


class PixWebhookResult(BaseModel):
    received: int
    duplicates: int
    payments_created: int
    review: int
