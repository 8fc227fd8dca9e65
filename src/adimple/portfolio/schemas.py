"""API shapes for the portfolio (``XCreate`` / ``XUpdate`` / ``XRead``). Money is a string
with two decimals in JSON (``"123.45"``); dates are ``YYYY-MM-DD``."""

from __future__ import annotations

import uuid
from datetime import date, datetime, time
from decimal import Decimal
from typing import Annotated, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer

from adimple.portfolio.models import (
    Channel,
    ContactKind,
    ContactOwner,
    DocumentKind,
    Imputation,
    PaymentSource,
    ReceivableStatus,
    RefundStatus,
)

MoneyOut = Annotated[Decimal, PlainSerializer(lambda v: f"{v:.2f}", return_type=str)]
MoneyIn = Annotated[Decimal, Field(max_digits=15, decimal_places=2, gt=0)]

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int


class CustomerCreate(BaseModel):
    external_id: str = Field(min_length=1, max_length=64)
    document: str = Field(description="CPF or CNPJ (numeric or alphanumeric), any punctuation")
    name: str = Field(min_length=1, max_length=200)
    birth_date: date | None = None
    uf: str | None = None
    municipality: str | None = None
    email: str | None = None
    phone: str | None = None
    address: str | None = None
    tags: list[str] = Field(default_factory=list)
    consumer: bool = False
    deceased: bool = False
    disputed: bool = False
    superendividamento: bool = False
    do_not_contact: bool = False


class CustomerUpdate(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    birth_date: date | None = None
    uf: str | None = None
    municipality: str | None = None
    tags: list[str] | None = None
    consumer: bool | None = None
    deceased: bool | None = None
    disputed: bool | None = None
    superendividamento: bool | None = None
    do_not_contact: bool | None = None


class CustomerRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    external_id: str
    document: str
    document_kind: DocumentKind
    name: str
    birth_date: date | None
    uf: str | None
    municipality: str | None
    tags: list[str]
    consumer: bool
    deceased: bool
    disputed: bool
    superendividamento: bool
    do_not_contact: bool
    created_at: datetime
    updated_at: datetime


class ContactPointCreate(BaseModel):
    kind: ContactKind
    value: str = Field(min_length=1, max_length=300)
    owner: ContactOwner = ContactOwner.DEBTOR
    verified: bool = False
    preferred: bool = False
    preferred_channel: Channel | None = None
    best_hour_start: time | None = None
    best_hour_end: time | None = None


class ContactPointRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    kind: ContactKind
    value: str
    owner: ContactOwner
    verified: bool
    preferred: bool
    preferred_channel: Channel | None
    best_hour_start: time | None
    best_hour_end: time | None
    invalid_at: datetime | None


class ReceivableCreate(BaseModel):
    external_id: str = Field(min_length=1, max_length=64)
    customer_external_id: str = Field(min_length=1, max_length=64)
    contract: str | None = Field(default=None, max_length=64)
    installment_number: int | None = Field(default=None, ge=1)
    installment_count: int | None = Field(default=None, ge=1)
    issue_date: date
    due_date: date
    amount: MoneyIn
    nosso_numero: str | None = Field(default=None, max_length=30)
    description: str | None = Field(default=None, max_length=200)


class ReceivableUpdate(BaseModel):
    status: ReceivableStatus | None = Field(
        default=None, description="Only cancelled or written_off can be set by hand."
    )
    due_date: date | None = None
    description: str | None = Field(default=None, max_length=200)


class ReceivableRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    customer_id: uuid.UUID
    external_id: str
    contract: str | None
    installment_number: int | None
    installment_count: int | None
    issue_date: date
    due_date: date
    original_amount: MoneyOut
    balance: MoneyOut
    status: ReceivableStatus
    nosso_numero: str | None
    pix_txid: str | None
    description: str | None
    created_at: datetime
    updated_at: datetime


class PaymentCreate(BaseModel):
    external_id: str = Field(min_length=1, max_length=80)
    receivable_external_id: str = Field(min_length=1, max_length=64)
    paid_on: date
    amount: MoneyIn
    fees: Annotated[Decimal, Field(max_digits=15, decimal_places=2, ge=0)] = Decimal("0")
    credited_on: date | None = None
    source: PaymentSource = PaymentSource.MANUAL


class PaymentRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    external_id: str
    receivable_id: uuid.UUID
    customer_id: uuid.UUID
    source: PaymentSource
    gross: MoneyOut
    fees: MoneyOut
    net: MoneyOut
    paid_on: date
    credited_on: date | None
    principal: MoneyOut = Field(description="Applied to the receivable's balance.")
    charges: MoneyOut = Field(description="Correção, multa, juros and fees paid.")
    discount: MoneyOut = Field(description="Written down with this payment.")
    overpaid: MoneyOut = Field(description="Paid beyond the debt: to refund (CDC art. 42).")
    imputation: Imputation
    refund_status: RefundStatus
    created_at: datetime


class BulkResult(BaseModel):
    rows: int
    inserted: int
    updated: int
    unchanged: int
    rejected: int
    errors: list[dict[str, object]] = Field(default_factory=list)
