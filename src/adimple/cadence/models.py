"""Régua de cobrança: cadences and their steps, segments, collection cases and what the
daily cycle decided (steps reached or skipped, contacts suppressed, bureau records)."""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
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
    Money,
    TenantMixin,
    TimestampMixin,
    UncheckedTenantMixin,
    UTCDateTime,
    str_enum,
)
from adimple.portfolio.models import Channel


class StepAction(enum.StrEnum):
    """What a step does when it is not a message."""

    TASK_CALL = "task_call"  # a phone call by an operator
    BUREAU_NOTICE = "bureau_notice"  # written notice before negativação (CDC art. 43 §2)
    BUREAU_ACTIVATE = "bureau_activate"  # negativação, only after the notice's waiting period
    AGENCY_HANDOFF = "agency_handoff"
    LEGAL_REVIEW = "legal_review"


class CaseStatus(enum.StrEnum):
    OPEN = "open"
    PAUSED = "paused"  # agreement, dispute, deceased, superendividamento
    CURED = "cured"  # nothing overdue any more
    CLOSED = "closed"  # prescribed, written off, or closed by staff


class CaseEventKind(enum.StrEnum):
    OPENED = "opened"
    STEP = "step"  # a step was carried out (contacts planned or a task created)
    SKIPPED = "skipped"  # catch-up: a step passed over because a later one was already due
    REANCHORED = "reanchored"  # the oldest overdue receivable changed
    PAUSED = "paused"
    RESUMED = "resumed"
    CURED = "cured"
    CLOSED = "closed"


class SuppressionReason(enum.StrEnum):
    """Why a planned contact was not made; every one is recorded (DESIGN §5)."""

    PAID = "paid"
    AGREEMENT = "agreement"
    OPT_OUT = "opt_out"
    THIRD_PARTY = "third_party"
    DISPUTED = "disputed"
    DECEASED = "deceased"
    SUPERENDIVIDAMENTO = "superendividamento"
    PRESCRIBED = "prescribed"
    WINDOW = "window"
    FREQUENCY_CAP = "frequency_cap"
    NO_CONTACT_POINT = "no_contact_point"
    DO_NOT_CONTACT = "do_not_contact"
    MISSING_CREDITOR_ID = "missing_creditor_id"


class BureauStatus(enum.StrEnum):
    NOTICE_SENT = "notice_sent"
    ACTIVE = "active"
    REMOVAL_PENDING = "removal_pending"
    REMOVED = "removed"
    CANCELLED = "cancelled"  # paid or settled before activation


class CycleRunStatus(enum.StrEnum):
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class Cadence(IdMixin, TenantMixin, TimestampMixin, Base):
    """Régua de cobrança: a named sequence of steps; its definition lives in versions."""

    __tablename__ = "cadence"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    name: Mapped[str] = mapped_column(String(64))
    description: Mapped[str | None] = mapped_column(String(300))
    current_version: Mapped[int] = mapped_column(Integer, default=1)


class CadenceVersion(IdMixin, TenantMixin, Base):
    """One immutable version of a cadence. Cases keep the version they started with."""

    __tablename__ = "cadence_version"
    __table_args__ = (UniqueConstraint("tenant_id", "cadence_id", "version"),)

    cadence_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("cadence.id", ondelete="CASCADE")
    )
    version: Mapped[int] = mapped_column(Integer)
    definition: Mapped[dict[str, Any]] = mapped_column(JSON)  # the normalised YAML document
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(100))


class CadenceStep(IdMixin, TenantMixin, Base):
    """Passo da régua: what happens ``offset_days`` after the due date (negative = before)."""

    __tablename__ = "cadence_step"
    __table_args__ = (
        UniqueConstraint("tenant_id", "cadence_version_id", "step_key"),
        UniqueConstraint("tenant_id", "cadence_version_id", "position"),
    )

    cadence_version_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("cadence_version.id", ondelete="CASCADE")
    )
    position: Mapped[int] = mapped_column(Integer)  # order by offset; catch-up picks the highest
    step_key: Mapped[str] = mapped_column(String(64))
    offset_days: Mapped[int] = mapped_column(Integer)
    channels: Mapped[list[str]] = mapped_column(JSON, default=list)
    action: Mapped[StepAction | None] = mapped_column(str_enum(StepAction, "step_action"))
    template: Mapped[str | None] = mapped_column(String(64))
    min_balance: Mapped[Decimal | None] = mapped_column("min_balance_cents", Money)
    segments: Mapped[list[str] | None] = mapped_column(JSON)  # None = every segment
    score_bands: Mapped[list[str] | None] = mapped_column(JSON)  # None = every band
    only_business_days: Mapped[bool] = mapped_column(Boolean, default=False)


class Segment(IdMixin, TenantMixin, TimestampMixin, Base):
    """Segmento: a rule that classifies a debtor when a case opens, and the cadence it gets.

    Rules are evaluated by ascending ``priority``; the first that matches wins. ``kind`` names
    one of the built-in predicates and ``params`` its thresholds (see docs/cadence.md).
    """

    __tablename__ = "segment"
    __table_args__ = (UniqueConstraint("tenant_id", "code"),)

    code: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(100))
    priority: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(40))
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    cadence_name: Mapped[str] = mapped_column(String(64))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)


class CollectionCase(IdMixin, TenantMixin, TimestampMixin, Base):
    """Caso de cobrança: one episode per customer, from the first overdue day until cured.

    ``next_step_on`` is the date the next step falls due: the daily cycle selects the cases it
    must touch by that indexed column instead of scanning every receivable.
    """

    __tablename__ = "collection_case"
    __table_args__ = (
        # One live episode per customer (partial unique index: SQLite and PostgreSQL both have it).
        Index(
            "uq_collection_case_live",
            "tenant_id",
            "customer_id",
            unique=True,
            sqlite_where=text("status IN ('open', 'paused')"),
            postgresql_where=text("status IN ('open', 'paused')"),
        ),
        # The customer last: a partition's range is checked in the index, so the daily
        # selection fetches only its own due cases (migration 0019).
        Index(
            "ix_collection_case_tenant_status_next",
            "tenant_id",
            "status",
            "next_step_on",
            "customer_id",
        ),
    )

    # No foreign keys to customer and título (migration 0016): each new case locked (and
    # wrote) a random page of both big tables. A case is opened from rows the same
    # transaction read; títulos are never deleted, and delete_customer deletes its cases.
    customer_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    status: Mapped[CaseStatus] = mapped_column(
        str_enum(CaseStatus, "case_status"), default=CaseStatus.OPEN
    )
    segment: Mapped[str] = mapped_column(String(40))
    segment_reason: Mapped[str] = mapped_column(String(300))
    cadence_version_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("cadence_version.id", ondelete="RESTRICT")
    )
    anchor_receivable_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    anchor_due_date: Mapped[date] = mapped_column(Date)
    opened_on: Mapped[date] = mapped_column(Date)
    last_position: Mapped[int] = mapped_column(Integer, default=0)  # 0 = no step yet
    last_step_key: Mapped[str | None] = mapped_column(String(64))
    last_step_on: Mapped[date | None] = mapped_column(Date)
    next_step_on: Mapped[date | None] = mapped_column(Date)
    pause_reason: Mapped[str | None] = mapped_column(String(40))
    risk_band: Mapped[str | None] = mapped_column(String(10))
    owner: Mapped[str | None] = mapped_column(String(100))  # operator in charge, if any
    closed_on: Mapped[date | None] = mapped_column(Date)
    close_reason: Mapped[str | None] = mapped_column(String(40))


class CaseEvent(IdMixin, UncheckedTenantMixin, Base):
    """What happened to a case and why; unique per idempotency key so re-runs add nothing."""

    __tablename__ = "case_event"
    __table_args__ = (
        # Every key names its case, so this is "unique per key" and also the index for a
        # case's events: one index for a day's ten thousand inserts to touch, not two
        # (migration 0015).
        UniqueConstraint("tenant_id", "case_id", "idempotency_key"),
    )

    # No foreign keys (migration 0016): ten thousand a day, each written for a case the same
    # transaction wrote or read.
    case_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    kind: Mapped[CaseEventKind] = mapped_column(str_enum(CaseEventKind, "case_event_kind"))
    step_key: Mapped[str | None] = mapped_column(String(64))
    on_date: Mapped[date] = mapped_column(Date)
    idempotency_key: Mapped[str] = mapped_column(String(200))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ContactSuppression(IdMixin, UncheckedTenantMixin, Base):
    """A contact the plan would have made and did not, with the reason code."""

    __tablename__ = "contact_suppression"
    __table_args__ = (
        UniqueConstraint("tenant_id", "idempotency_key"),
        Index("ix_contact_suppression_tenant_date", "tenant_id", "plan_date"),
    )

    # No foreign keys: the daily cycle writes thousands of these a day, and each check would
    # lock (and write) a random customer page (migration 0014) or run a trigger per row
    # (migration 0016); portfolio.service.delete_customer deletes them itself.
    customer_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    case_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    plan_date: Mapped[date] = mapped_column(Date)
    step_key: Mapped[str] = mapped_column(String(64))
    channel: Mapped[Channel | None] = mapped_column(str_enum(Channel, "channel"))
    reason: Mapped[SuppressionReason] = mapped_column(
        str_enum(SuppressionReason, "suppression_reason")
    )
    detail: Mapped[str | None] = mapped_column(String(300))
    idempotency_key: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CycleRun(IdMixin, TenantMixin, Base):
    """One daily cycle for a tenant and date; the running row is the lock on SQLite."""

    __tablename__ = "cycle_run"
    __table_args__ = (UniqueConstraint("tenant_id", "run_date"),)

    run_date: Mapped[date] = mapped_column(Date)
    status: Mapped[CycleRunStatus] = mapped_column(str_enum(CycleRunStatus, "cycle_run_status"))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    runs: Mapped[int] = mapped_column(Integer, default=1)
    stats: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    error: Mapped[str | None] = mapped_column(Text)


class CreditBureauRecord(IdMixin, TenantMixin, TimestampMixin, Base):
    """Negativação: notice sent → active → removed (CDC art. 43; STJ Súmula 548)."""

    __tablename__ = "credit_bureau_record"
    __table_args__ = (
        Index(
            "uq_credit_bureau_record_live",
            "tenant_id",
            "receivable_id",
            unique=True,
            sqlite_where=text("status IN ('notice_sent', 'active', 'removal_pending')"),
            postgresql_where=text("status IN ('notice_sent', 'active', 'removal_pending')"),
        ),
        Index("ix_credit_bureau_record_tenant_customer", "tenant_id", "customer_id"),
    )

    customer_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("customer.id", ondelete="CASCADE")
    )
    receivable_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("receivable.id", ondelete="CASCADE")
    )
    case_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("collection_case.id", ondelete="SET NULL")
    )
    status: Mapped[BureauStatus] = mapped_column(str_enum(BureauStatus, "bureau_status"))
    amount: Mapped[Decimal] = mapped_column("amount_cents", Money)
    notice_sent_on: Mapped[date] = mapped_column(Date)
    eligible_on: Mapped[date] = mapped_column(Date)  # notice + waiting period (default 10 days)
    activated_on: Mapped[date | None] = mapped_column(Date)
    removal_due_on: Mapped[date | None] = mapped_column(Date)  # 5 business days after payment
    removed_on: Mapped[date | None] = mapped_column(Date)
