"""Portfolio: customers (devedores), their contact points, receivables (títulos) and payments."""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Time,
    UniqueConstraint,
    Uuid,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from adimple.db.base import Base, IdMixin, Money, TenantMixin, TimestampMixin, UTCDateTime, str_enum


class DocumentKind(enum.StrEnum):
    CPF = "cpf"
    CNPJ = "cnpj"


class ContactKind(enum.StrEnum):
    EMAIL = "email"
    PHONE = "phone"  # mobile or landline, E.164; mobiles also carry SMS and WhatsApp
    ADDRESS = "address"  # postal address for letters


class ContactOwner(enum.StrEnum):
    DEBTOR = "debtor"
    THIRD_PARTY = "third_party"  # never told about the debt (CDC art. 42, LGPD)


class Channel(enum.StrEnum):
    EMAIL = "email"
    SMS = "sms"
    WHATSAPP = "whatsapp"
    LETTER = "letter"
    PHONE = "phone"


class ReceivableStatus(enum.StrEnum):
    OPEN = "open"
    PAID = "paid"
    AGREEMENT = "agreement"
    WRITTEN_OFF = "written_off"
    CANCELLED = "cancelled"


class PaymentSource(enum.StrEnum):
    CNAB = "cnab"
    PIX = "pix"
    MANUAL = "manual"
    AGREEMENT = "agreement"
    IMPORT = "import"


class Imputation(enum.StrEnum):
    """How a payment's money was split between charges, principal and excess (imputação)."""

    PRINCIPAL_ONLY = "principal_only"  # imports: gross to principal up to what was owed
    BANK = "bank"  # the bank's breakdown (CNAB juros/desconto/abatimento) is trusted
    CHARGES_FIRST = "charges_first"  # CC art. 354: accrued charges first, then principal


class RefundStatus(enum.StrEnum):
    """Money received beyond what was owed must go back (CDC art. 42, parágrafo único)."""

    NONE = "none"
    PENDING = "pending"
    REFUNDED = "refunded"


class Customer(IdMixin, TenantMixin, TimestampMixin, Base):
    """Devedor: a person (CPF) or company (CNPJ) who owes the tenant."""

    __tablename__ = "customer"
    __table_args__ = (
        UniqueConstraint("tenant_id", "external_id"),
        Index("ix_customer_tenant_document", "tenant_id", "document"),
    )

    external_id: Mapped[str] = mapped_column(String(64))
    document: Mapped[str] = mapped_column(String(14))  # digits (CPF) or alphanumeric CNPJ
    document_kind: Mapped[DocumentKind] = mapped_column(str_enum(DocumentKind, "document_kind"))
    name: Mapped[str] = mapped_column(String(200))
    birth_date: Mapped[date | None] = mapped_column(Date)
    uf: Mapped[str | None] = mapped_column(String(2))
    municipality: Mapped[str | None] = mapped_column(String(100))
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    # A CNPJ debtor may still be a consumer (CDC art. 2): the flag makes the consumer rules apply.
    consumer: Mapped[bool] = mapped_column(Boolean, default=False)
    deceased: Mapped[bool] = mapped_column(Boolean, default=False)
    disputed: Mapped[bool] = mapped_column(Boolean, default=False)
    superendividamento: Mapped[bool] = mapped_column(Boolean, default=False)  # CDC art. 104-A
    do_not_contact: Mapped[bool] = mapped_column(Boolean, default=False)

    contact_points: Mapped[list[ContactPoint]] = relationship(
        back_populates="customer", lazy="raise", cascade="all, delete-orphan"
    )

    @property
    def is_consumer(self) -> bool:
        return self.document_kind == DocumentKind.CPF or self.consumer


# The columns of a contact point the daily cycle reads (cadence.repository._fill_contacts).
CONTACT_POINT_READ_COLUMNS = (
    "id",
    "kind",
    "value",
    "owner",
    "verified",
    "preferred",
    "preferred_channel",
    "invalid_at",
    "best_hour_start",
    "best_hour_end",
)


class ContactPoint(IdMixin, TenantMixin, TimestampMixin, Base):
    """Ponto de contato: an e-mail, phone or postal address, and whose it is."""

    __tablename__ = "contact_point"
    __table_args__ = (
        UniqueConstraint("tenant_id", "customer_id", "kind", "value"),
        # Every column the daily cycle reads of a point rides in the index (PostgreSQL's
        # INCLUDE): its tens of thousands of points a day come from an index-only scan
        # (migration 0017). SQLite has no INCLUDE and keeps the plain index.
        Index(
            "ix_contact_point_tenant_customer",
            "tenant_id",
            "customer_id",
            postgresql_include=list(CONTACT_POINT_READ_COLUMNS),
        ),
        CheckConstraint(
            "best_hour_start IS NULL OR best_hour_end IS NULL OR best_hour_start < best_hour_end",
            name="best_hours_order",
        ),
    )

    customer_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("customer.id", ondelete="CASCADE")
    )
    kind: Mapped[ContactKind] = mapped_column(str_enum(ContactKind, "contact_kind"))
    value: Mapped[str] = mapped_column(String(300))
    owner: Mapped[ContactOwner] = mapped_column(
        str_enum(ContactOwner, "contact_owner"), default=ContactOwner.DEBTOR
    )
    verified: Mapped[bool] = mapped_column(Boolean, default=False)
    preferred: Mapped[bool] = mapped_column(Boolean, default=False)
    preferred_channel: Mapped[Channel | None] = mapped_column(str_enum(Channel, "channel"))
    best_hour_start: Mapped[time | None] = mapped_column(Time)
    best_hour_end: Mapped[time | None] = mapped_column(Time)
    invalid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    invalid_reason: Mapped[str | None] = mapped_column(String(200))

    customer: Mapped[Customer] = relationship(back_populates="contact_points", lazy="raise")


class ChannelOptOut(IdMixin, TenantMixin, Base):
    """Opt-out of one channel by a customer; honoured except for legally required notices."""

    __tablename__ = "channel_opt_out"
    __table_args__ = (UniqueConstraint("tenant_id", "customer_id", "channel"),)

    customer_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("customer.id", ondelete="CASCADE")
    )
    channel: Mapped[Channel] = mapped_column(str_enum(Channel, "channel"))
    source: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


# The nosso número as reconciliation compares it: upper case, no punctuation, no leading zeros
# ("000123-4" → "1234"). Indexed (an expression index, on both databases) so the numbers of a
# return file are index lookups; queries must use this exact text for the index to apply.
NOSSO_NUMERO_KEY_SQL = (
    "ltrim(upper(replace(replace(replace(replace(nosso_numero, '-', ''), '/', ''), '.', ''), "
    "' ', '')), '0')"
)


class Receivable(IdMixin, TenantMixin, TimestampMixin, Base):
    """Título / parcela: one installment the customer owes.

    ``balance`` is what is still open (original amount minus payments applied); the daily
    cycle sums it set-wise, so it is kept as a column rather than derived per query.
    """

    __tablename__ = "receivable"
    __table_args__ = (
        UniqueConstraint("tenant_id", "external_id"),
        # customer_id last: the daily cycle's partitions (customer-id ranges) are checked in
        # the index, so each reads only its own títulos due on a date.
        Index("ix_receivable_tenant_status_due", "tenant_id", "status", "due_date", "customer_id"),
        # Everything the daily cycle's segment features read (cadence.repository.features),
        # so they come from an index-only scan of the customer's títulos.
        Index(
            "ix_receivable_customer_profile",
            "tenant_id",
            "customer_id",
            "status",
            "due_date",
            "issue_date",
            "balance_cents",
            "last_paid_on",
        ),
        Index("ix_receivable_tenant_nosso_numero", "tenant_id", "nosso_numero"),
        # The daily cycle looks only at títulos changed since its last run (late loads,
        # estornos, broken agreements) besides the newly overdue ones.
        Index("ix_receivable_tenant_updated", "tenant_id", "updated_at"),
        Index("ix_receivable_tenant_nosso_key", "tenant_id", text(NOSSO_NUMERO_KEY_SQL)),
        Index("ix_receivable_tenant_pix_txid", "tenant_id", "pix_txid"),  # PIX webhook lookups
        CheckConstraint("original_amount_cents > 0", name="amount_positive"),
        CheckConstraint("balance_cents >= 0", name="balance_not_negative"),
        CheckConstraint("due_date >= issue_date", name="due_after_issue"),
        CheckConstraint(
            "installment_number IS NULL OR installment_count IS NULL "
            "OR installment_number <= installment_count",
            name="installment_order",
        ),
    )

    customer_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("customer.id", ondelete="RESTRICT")
    )
    external_id: Mapped[str] = mapped_column(String(64))
    contract: Mapped[str | None] = mapped_column(String(64))
    installment_number: Mapped[int | None] = mapped_column(Integer)
    installment_count: Mapped[int | None] = mapped_column(Integer)
    issue_date: Mapped[date] = mapped_column(Date)
    due_date: Mapped[date] = mapped_column(Date)
    original_amount: Mapped[Decimal] = mapped_column("original_amount_cents", Money)
    balance: Mapped[Decimal] = mapped_column("balance_cents", Money)
    status: Mapped[ReceivableStatus] = mapped_column(
        str_enum(ReceivableStatus, "receivable_status"), default=ReceivableStatus.OPEN
    )
    nosso_numero: Mapped[str | None] = mapped_column(String(30))
    pix_txid: Mapped[str | None] = mapped_column(String(35))
    description: Mapped[str | None] = mapped_column(String(200))
    # The latest payment's date (NULL: never paid), kept by the database's triggers on
    # ``payment`` (migration 0011) whichever code writes the payment; read-only here. An
    # object already loaded sees a new value only after a refresh.
    last_paid_on: Mapped[date | None] = mapped_column(Date)


class Payment(IdMixin, TenantMixin, TimestampMixin, Base):
    """Pagamento: money received against a receivable (gross, fees and net kept apart)."""

    __tablename__ = "payment"
    __table_args__ = (
        UniqueConstraint("tenant_id", "external_id"),
        Index("ix_payment_tenant_receivable", "tenant_id", "receivable_id"),
        CheckConstraint("gross_cents > 0", name="gross_positive"),
        CheckConstraint("fees_cents >= 0", name="fees_not_negative"),
        CheckConstraint(
            "principal_cents >= 0 AND charges_cents >= 0 AND discount_cents >= 0 "
            "AND overpaid_cents >= 0",
            name="allocation_not_negative",
        ),
    )

    external_id: Mapped[str] = mapped_column(String(80))
    receivable_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("receivable.id", ondelete="RESTRICT")
    )
    customer_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("customer.id", ondelete="RESTRICT")
    )
    source: Mapped[PaymentSource] = mapped_column(str_enum(PaymentSource, "payment_source"))
    gross: Mapped[Decimal] = mapped_column("gross_cents", Money)
    fees: Mapped[Decimal] = mapped_column("fees_cents", Money)
    net: Mapped[Decimal] = mapped_column("net_cents", Money)
    paid_on: Mapped[date] = mapped_column(Date)
    credited_on: Mapped[date | None] = mapped_column(Date)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Imputação (payments/settlement.py): gross = principal + charges + overpaid; the
    # receivable's balance = original − Σ principal − Σ discount. Imports leave the defaults
    # and ``repository.recompute_balances`` allocates them (imputation principal_only).
    principal: Mapped[Decimal] = mapped_column(
        "principal_cents", Money, default=Decimal("0.00"), server_default=text("0")
    )
    charges: Mapped[Decimal] = mapped_column(
        "charges_cents", Money, default=Decimal("0.00"), server_default=text("0")
    )
    discount: Mapped[Decimal] = mapped_column(
        "discount_cents", Money, default=Decimal("0.00"), server_default=text("0")
    )
    overpaid: Mapped[Decimal] = mapped_column(
        "overpaid_cents", Money, default=Decimal("0.00"), server_default=text("0")
    )
    imputation: Mapped[Imputation] = mapped_column(
        str_enum(Imputation, "imputation"),
        default=Imputation.PRINCIPAL_ONLY,
        server_default=Imputation.PRINCIPAL_ONLY.value,
    )
    refund_status: Mapped[RefundStatus] = mapped_column(
        str_enum(RefundStatus, "refund_status"),
        default=RefundStatus.NONE,
        server_default=RefundStatus.NONE.value,
    )
