"""The outbox (contacts planned by the daily cycle, sent by the dispatcher) and operator tasks."""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Date,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from adimple.db.base import (
    Base,
    IdMixin,
    TenantMixin,
    TimestampMixin,
    UncheckedTenantMixin,
    UTCDateTime,
    str_enum,
)
from adimple.portfolio.models import Channel


class OutboxStatus(enum.StrEnum):
    """queued → sending → sent → delivered/read, or failed/bounced; cancelled before sending."""

    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"
    BOUNCED = "bounced"
    CANCELLED = "cancelled"


class TaskKind(enum.StrEnum):
    CALL = "call"  # phone contact by an operator (step action task_call)
    BUREAU_NOTICE = "bureau_notice"
    BUREAU_ACTIVATE = "bureau_activate"
    BUREAU_REMOVAL = "bureau_removal"  # within 5 business days of payment (STJ Súmula 548)
    AGENCY_HANDOFF = "agency_handoff"
    LEGAL_REVIEW = "legal_review"
    LGPD_REQUEST = "lgpd_request"
    REFUND = "refund"  # overpayment to return (CDC art. 42, parágrafo único)
    MANUAL = "manual"


class TaskStatus(enum.StrEnum):
    OPEN = "open"
    DONE = "done"
    CANCELLED = "cancelled"


class OutboxMessage(IdMixin, UncheckedTenantMixin, TimestampMixin, Base):
    """Tentativa de contato: one message to one contact point, sent at most once.

    ``idempotency_key`` is unique per tenant: the daily cycle derives it from (date, customer,
    step, channel), so a re-run inserts nothing; the dispatcher hands it to the provider as
    Message-ID / idempotency key so a retry after a crash is not a second message.
    """

    __tablename__ = "outbox_message"
    __table_args__ = (
        UniqueConstraint("tenant_id", "idempotency_key"),
        # The dispatcher claims across tenants by due time, so this one index does not lead
        # with tenant_id (a documented exception to DESIGN §2). On PostgreSQL it holds only
        # the rows a claim can take: a row's result (sent, failed, cancelled…) then adds no
        # entry to it, and it stays the size of the backlog instead of the history
        # (docs/benchmarks.md "Dispatch", session 5). The claim names the status as a literal
        # (``dispatcher.claim_due``) so that even a generic plan of it can use this index.
        # SQLite cannot prove ``status = 'queued'`` implies the IN list: it keeps it whole.
        Index(
            "ix_outbox_message_claim",
            "status",
            "next_attempt_at",
            postgresql_where=text("status IN ('queued', 'sending')"),
        ),
        Index("ix_outbox_message_tenant_customer", "tenant_id", "customer_id", "scheduled_for"),
        # Delivery webhooks arrive keyed by the provider's id, without the tenant (another
        # documented exception to DESIGN §2); not unique across providers' accounts. Only
        # rows with an id: the claim, which sets none, adds no entry to it.
        Index(
            "ix_outbox_message_provider_message",
            "provider",
            "provider_message_id",
            postgresql_where=text("provider_message_id IS NOT NULL"),
            sqlite_where=text("provider_message_id IS NOT NULL"),
        ),
    )

    # No foreign keys at all: the daily cycle writes tens of thousands of these a day. A key
    # to customer or contact point locked (and wrote) a random page of a big table (migration
    # 0014); every key is a per-row trigger (migration 0016, which says why that is safe). The
    # address is copied when planned; a contact point that no longer exists is simply not
    # invalidated on a bounce.
    customer_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    case_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    contact_point_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    channel: Mapped[Channel] = mapped_column(str_enum(Channel, "channel"))
    address: Mapped[str] = mapped_column(String(300))  # the contact point's value when planned
    step_key: Mapped[str] = mapped_column(String(64))
    template: Mapped[str] = mapped_column(String(64))
    cadence_version_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    plan_date: Mapped[date] = mapped_column(Date)
    idempotency_key: Mapped[str] = mapped_column(String(200))
    scheduled_for: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[OutboxStatus] = mapped_column(
        str_enum(OutboxStatus, "outbox_status"), default=OutboxStatus.QUEUED
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    provider: Mapped[str | None] = mapped_column(String(40))
    provider_message_id: Mapped[str | None] = mapped_column(String(200))
    last_error: Mapped[str | None] = mapped_column(Text)
    cancel_reason: Mapped[str | None] = mapped_column(String(40))
    subject: Mapped[str | None] = mapped_column(String(300))
    body: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class OutboxReceivable(UncheckedTenantMixin, Base):
    """Which receivables a message is about (consolidation: one message lists all of them)."""

    __tablename__ = "outbox_receivable"
    __table_args__ = (
        PrimaryKeyConstraint("outbox_id", "receivable_id"),
        Index("ix_outbox_receivable_tenant_receivable", "tenant_id", "receivable_id"),
    )

    # No foreign keys (migrations 0014 and 0016): títulos are never deleted, and a day's
    # 40,000 links would each lock (and write) a random page of the título table; the outbox
    # row is written by the same statement batch, and whoever deletes one deletes its links
    # (portfolio.service.delete_customer).
    outbox_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    receivable_id: Mapped[uuid.UUID] = mapped_column(Uuid)


class Task(IdMixin, TenantMixin, TimestampMixin, Base):
    """Tarefa: work for a person (a call, a bureau action, a refund, an LGPD request)."""

    __tablename__ = "task"
    __table_args__ = (
        UniqueConstraint("tenant_id", "idempotency_key"),
        Index("ix_task_tenant_status_due", "tenant_id", "status", "due_on"),
        Index("ix_task_tenant_customer", "tenant_id", "customer_id"),
    )

    customer_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("customer.id", ondelete="CASCADE")
    )
    case_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("collection_case.id", ondelete="SET NULL")
    )
    kind: Mapped[TaskKind] = mapped_column(str_enum(TaskKind, "task_kind"))
    status: Mapped[TaskStatus] = mapped_column(
        str_enum(TaskStatus, "task_status"), default=TaskStatus.OPEN
    )
    step_key: Mapped[str | None] = mapped_column(String(64))
    idempotency_key: Mapped[str] = mapped_column(String(200))
    due_on: Mapped[date] = mapped_column(Date)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    title: Mapped[str] = mapped_column(String(200))
    assigned_to: Mapped[str | None] = mapped_column(String(100))
    outcome: Mapped[str | None] = mapped_column(String(40))
    notes: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
