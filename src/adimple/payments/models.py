"""Reconciliation (conciliação): imported CNAB return files, PIX notifications and the review
queue of movements that could not be applied automatically."""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from adimple.db.base import Base, IdMixin, Money, TenantMixin, TimestampMixin, UTCDateTime, str_enum


class ReviewSource(enum.StrEnum):
    CNAB = "cnab"
    PIX = "pix"


class ReviewReason(enum.StrEnum):
    """Why a movement waits for a person instead of being applied."""

    UNMATCHED = "unmatched"  # no receivable has this company number / nosso número / txid
    AMBIGUOUS = "ambiguous"  # several receivables match, or the two numbers disagree
    REJECTED_BY_BANK = "rejected_by_bank"  # entrada rejeitada: the boleto was not registered
    INCOMPLETE = "incomplete"  # a liquidação without a paid amount or a date


class ReviewStatus(enum.StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"
    IGNORED = "ignored"


class CnabFile(IdMixin, TenantMixin, Base):
    """Arquivo de retorno imported once per tenant (same bytes = same sha256 = no-op)."""

    __tablename__ = "cnab_file"
    __table_args__ = (
        UniqueConstraint("tenant_id", "sha256"),
        Index("ix_cnab_file_tenant_imported", "tenant_id", "imported_at"),
    )

    sha256: Mapped[str] = mapped_column(String(64))
    filename: Mapped[str] = mapped_column(String(255))
    layout: Mapped[str] = mapped_column(String(10))
    bank_code: Mapped[str] = mapped_column(String(3))
    record_count: Mapped[int] = mapped_column(Integer)
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime)
    imported_by: Mapped[str] = mapped_column(String(100))
    summary: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class ReconciliationItem(IdMixin, TenantMixin, TimestampMixin, Base):
    """Fila de revisão: a movement that was not applied automatically; never lost."""

    __tablename__ = "reconciliation_item"
    __table_args__ = (
        # One item per movement: re-reading the same movement (another file) adds nothing.
        UniqueConstraint("tenant_id", "movement_key"),
        Index("ix_reconciliation_item_tenant_status", "tenant_id", "status", "created_at"),
    )

    source: Mapped[ReviewSource] = mapped_column(str_enum(ReviewSource, "review_source"))
    cnab_file_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("cnab_file.id", ondelete="SET NULL")
    )
    pix_notification_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("pix_notification.id", ondelete="SET NULL")
    )
    record_index: Mapped[int | None] = mapped_column(Integer)  # position in the file (0-based)
    line: Mapped[int | None] = mapped_column(Integer)  # line of the file
    movement_key: Mapped[str] = mapped_column(String(200))  # the payment external id it would get
    nosso_numero: Mapped[str | None] = mapped_column(String(30))
    company_number: Mapped[str | None] = mapped_column(String(64))  # seu número / uso da empresa
    txid: Mapped[str | None] = mapped_column(String(35))
    codigo_ocorrencia: Mapped[str | None] = mapped_column(String(4))
    amount: Mapped[Decimal | None] = mapped_column("amount_cents", Money)
    paid_on: Mapped[date | None] = mapped_column(Date)
    reason: Mapped[ReviewReason] = mapped_column(str_enum(ReviewReason, "review_reason"))
    detail: Mapped[str | None] = mapped_column(String(300))
    candidates: Mapped[list[str]] = mapped_column(JSON, default=list)  # receivable ids
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # the record as read
    status: Mapped[ReviewStatus] = mapped_column(
        str_enum(ReviewStatus, "review_status"), default=ReviewStatus.OPEN
    )
    resolved_receivable_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("receivable.id", ondelete="SET NULL")
    )
    payment_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("payment.id", ondelete="SET NULL")
    )
    resolved_by: Mapped[str | None] = mapped_column(String(100))
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    note: Mapped[str | None] = mapped_column(Text)


class PixNotification(IdMixin, TenantMixin, Base):
    """One Pix received as notified by the PSP's webhook (BCB API Pix), kept as sent."""

    __tablename__ = "pix_notification"
    __table_args__ = (
        UniqueConstraint("tenant_id", "end_to_end_id"),
        Index("ix_pix_notification_tenant_txid", "tenant_id", "txid"),
    )

    end_to_end_id: Mapped[str] = mapped_column(String(32))
    txid: Mapped[str | None] = mapped_column(String(35))
    amount: Mapped[Decimal] = mapped_column("amount_cents", Money)
    paid_at: Mapped[datetime] = mapped_column(UTCDateTime)
    payer: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    payment_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("payment.id", ondelete="SET NULL")
    )
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    raw: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
