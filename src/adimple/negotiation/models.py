"""Acordos: an agreement made from an offer, its installments and the receivables it replaces.

Each installment (parcela do acordo) is a new :class:`~adimple.portfolio.models.Receivable` of
the same customer, so billing (PIX and boleto), reconciliation, PIX webhooks and settlement work
on it unchanged; the original receivables are suspended (status ``agreement``) meanwhile.
"""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    UniqueConstraint,
    Uuid,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from adimple.db.base import Base, IdMixin, Money, TenantMixin, TimestampMixin, UTCDateTime, str_enum


class AgreementStatus(enum.StrEnum):
    """pending (nothing paid yet) → active (1st installment paid) → completed; or broken
    (an active one missed an installment past tolerance) / cancelled (a pending one lapsed)."""

    PENDING = "pending"
    ACTIVE = "active"
    COMPLETED = "completed"
    BROKEN = "broken"
    CANCELLED = "cancelled"


LIVE_STATUSES = (AgreementStatus.PENDING, AgreementStatus.ACTIVE)


class AgreementChannel(enum.StrEnum):
    PORTAL = "portal"
    OPERATOR = "operator"
    API = "api"


class Agreement(IdMixin, TenantMixin, TimestampMixin, Base):
    """Acordo: the debtor's accepted offer, with the consent that was given."""

    __tablename__ = "agreement"
    __table_args__ = (
        UniqueConstraint("tenant_id", "number"),
        UniqueConstraint("tenant_id", "idempotency_key"),
        # One live agreement per customer: the last guard against two concurrent creations.
        Index(
            "uq_agreement_live",
            "tenant_id",
            "customer_id",
            unique=True,
            sqlite_where=text("status IN ('pending', 'active')"),
            postgresql_where=text("status IN ('pending', 'active')"),
        ),
        Index("ix_agreement_tenant_status", "tenant_id", "status"),
        Index("ix_agreement_tenant_customer", "tenant_id", "customer_id"),
        CheckConstraint("total_cents > 0", name="total_positive"),
        CheckConstraint("discount_cents >= 0", name="discount_not_negative"),
        CheckConstraint("installments_count >= 1", name="installments_positive"),
        CheckConstraint("tolerance_days >= 0", name="tolerance_not_negative"),
    )

    customer_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("customer.id", ondelete="RESTRICT")
    )
    number: Mapped[str] = mapped_column(String(20))  # "AC-000123", per tenant
    status: Mapped[AgreementStatus] = mapped_column(
        str_enum(AgreementStatus, "agreement_status"), default=AgreementStatus.PENDING
    )
    offer_id: Mapped[str] = mapped_column(String(40))
    offer: Mapped[dict[str, Any]] = mapped_column(JSON)  # Offer.as_contract() when accepted
    installments_count: Mapped[int] = mapped_column(Integer)
    total: Mapped[Decimal] = mapped_column("total_cents", Money)
    discount: Mapped[Decimal] = mapped_column("discount_cents", Money)
    created_on: Mapped[date] = mapped_column(Date)
    activated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    broken_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_reason: Mapped[str | None] = mapped_column(String(200))
    channel: Mapped[AgreementChannel] = mapped_column(
        str_enum(AgreementChannel, "agreement_channel")
    )
    created_by: Mapped[str] = mapped_column(String(100))
    # Aceite: ip, user_agent, terms_version, terms_sha256, accepted_at (CDC art. 46: the debtor
    # must have been able to read the terms; the record proves what was accepted and when).
    consent: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    tolerance_days: Mapped[int] = mapped_column(Integer)
    idempotency_key: Mapped[str | None] = mapped_column(String(200))


class AgreementInstallment(TenantMixin, Base):
    """Parcela do acordo: one payment of the plan, billed as its own receivable."""

    __tablename__ = "agreement_installment"
    __table_args__ = (
        PrimaryKeyConstraint("agreement_id", "number"),
        UniqueConstraint("tenant_id", "receivable_id"),
        # The breach check looks only at installments already due (check_agreements).
        Index("ix_agreement_installment_tenant_due", "tenant_id", "due_date"),
        CheckConstraint("amount_cents > 0", name="amount_positive"),
    )

    agreement_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("agreement.id", ondelete="CASCADE")
    )
    number: Mapped[int] = mapped_column(Integer)
    due_date: Mapped[date] = mapped_column(Date)
    amount: Mapped[Decimal] = mapped_column("amount_cents", Money)
    receivable_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("receivable.id", ondelete="RESTRICT")
    )


class AgreementReceivable(TenantMixin, Base):
    """A receivable the agreement replaces, with its balance when the agreement was made."""

    __tablename__ = "agreement_receivable"
    __table_args__ = (
        PrimaryKeyConstraint("agreement_id", "receivable_id"),
        Index("ix_agreement_receivable_tenant_receivable", "tenant_id", "receivable_id"),
    )

    agreement_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("agreement.id", ondelete="CASCADE")
    )
    receivable_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("receivable.id", ondelete="RESTRICT")
    )
    balance: Mapped[Decimal] = mapped_column("balance_cents", Money)


class AgreementCounter(Base):
    """The last agreement number handed out per tenant (row-locked ``UPDATE … RETURNING``)."""

    __tablename__ = "agreement_counter"

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("tenant.id", ondelete="CASCADE"), primary_key=True
    )
    last_number: Mapped[int] = mapped_column(Integer, default=0)
