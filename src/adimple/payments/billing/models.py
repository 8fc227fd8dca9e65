"""Billing tables: the tenant's boleto/PIX settings, the references allocated to receivables and
the charge documents issued (what the debtor was given to pay)."""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
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

from adimple.db.base import Base, IdMixin, Money, TenantMixin, TimestampMixin, UTCDateTime, str_enum
from adimple.kit.crypto import EncryptedText


class ChargeKind(enum.StrEnum):
    BOLETO = "boleto"
    PIX = "pix"


class PixMode(enum.StrEnum):
    STATIC = "static"  # BR Code estático with amount and txid (no PSP)
    COBV = "cobv"  # cobrança com vencimento registered at the PSP (API Pix)


class ReferenceKind(enum.StrEnum):
    NOSSO_NUMERO = "nosso_numero"
    TXID = "txid"


class BillingSettings(IdMixin, TenantMixin, TimestampMixin, Base):
    """Configuração de cobrança do credor: beneficiary bank account, PIX key and PSP access.

    ``nosso_numero_next`` is the next sequence to hand out; it is advanced with a single
    ``UPDATE … RETURNING`` so that concurrent allocations never get the same number (the row lock
    serialises them on PostgreSQL; SQLite writers are serialised by ``BEGIN IMMEDIATE``).
    ``psp_client_secret`` is never returned by the API or the CLI.
    """

    __tablename__ = "billing_settings"
    __table_args__ = (
        UniqueConstraint("tenant_id"),
        CheckConstraint("nosso_numero_next >= 1", name="nosso_numero_next_positive"),
        CheckConstraint("boleto_days_to_pay BETWEEN 1 AND 30", name="days_to_pay_range"),
        CheckConstraint("cobv_validity_days BETWEEN 0 AND 365", name="validity_range"),
    )

    # Boleto: beneficiary account at the bank, as the bank's free field needs it.
    bank_code: Mapped[str | None] = mapped_column(String(3))
    agencia: Mapped[str | None] = mapped_column(String(10))
    conta: Mapped[str | None] = mapped_column(String(20))
    conta_dv: Mapped[str | None] = mapped_column(String(2))
    carteira: Mapped[str | None] = mapped_column(String(5))
    convenio: Mapped[str | None] = mapped_column(String(20))
    codigo_beneficiario: Mapped[str | None] = mapped_column(String(20))
    # Other bank-specific fields (cooperativa, codigo_cliente, modalidade, emissao, iof, …).
    bank_options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # BIGINT: Caixa uses 15 sequence digits, Banco do Brasil up to 17.
    nosso_numero_next: Mapped[int] = mapped_column(BigInteger, default=1)
    boleto_days_to_pay: Mapped[int] = mapped_column(Integer, default=3)
    # PIX: key and the merchant name/city printed in the BR Code (ID 59 ≤ 25, ID 60 ≤ 15).
    pix_key: Mapped[str | None] = mapped_column(String(77))
    merchant_name: Mapped[str | None] = mapped_column(String(25))
    merchant_city: Mapped[str | None] = mapped_column(String(15))
    # PSP (API Pix): without base URL and credentials, static BR Codes are issued instead.
    psp_base_url: Mapped[str | None] = mapped_column(String(300))
    psp_client_id: Mapped[str | None] = mapped_column(String(200))
    # Encrypted at rest (adimple.kit.crypto), as is the webhook URL: it carries an API key.
    # Deferred: decrypted only where the PSP is used, so that with a wrong key boletos and
    # static PIX go on and only the PSP's paths fail (kit.crypto.SecretUnreadable).
    psp_client_secret: Mapped[str | None] = mapped_column(EncryptedText, deferred=True)
    psp_cert_path: Mapped[str | None] = mapped_column(String(500))
    psp_key_path: Mapped[str | None] = mapped_column(String(500))
    psp_webhook_url: Mapped[str | None] = mapped_column(EncryptedText, deferred=True)
    cobv_validity_days: Mapped[int] = mapped_column(Integer, default=30)

    @property
    def boleto_enabled(self) -> bool:
        return bool(self.bank_code)

    @property
    def psp_enabled(self) -> bool:
        return bool(
            self.psp_base_url and self.psp_client_id and self.psp_client_secret and self.pix_key
        )

    @property
    def pix_enabled(self) -> bool:
        return bool(self.pix_key)


class BillingReference(IdMixin, TenantMixin, Base):
    """Every nosso número and txid ever allocated by the tenant: the unique index is what
    guarantees that no two receivables get the same reference, whatever the sequence says."""

    __tablename__ = "billing_reference"
    __table_args__ = (
        UniqueConstraint("tenant_id", "kind", "value"),
        Index("ix_billing_reference_tenant_receivable", "tenant_id", "receivable_id"),
    )

    kind: Mapped[ReferenceKind] = mapped_column(str_enum(ReferenceKind, "billing_reference_kind"))
    value: Mapped[str] = mapped_column(String(35))
    receivable_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("receivable.id", ondelete="CASCADE")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ChargeDocument(IdMixin, TenantMixin, Base):
    """Documento de cobrança emitido: one boleto or one PIX charge for a receivable.

    Kept and reused while it is valid (until its due date, same balance, same terms); a new one
    supersedes it otherwise. At most one current (not superseded) document per receivable and
    kind (partial unique index).
    """

    __tablename__ = "charge_document"
    __table_args__ = (
        Index("ix_charge_document_tenant_receivable", "tenant_id", "receivable_id"),
        Index(
            "uq_charge_document_current",
            "tenant_id",
            "receivable_id",
            "kind",
            unique=True,
            sqlite_where=text("superseded_at IS NULL"),
            postgresql_where=text("superseded_at IS NULL"),
        ),
        Index("ix_charge_document_tenant_txid", "tenant_id", "txid"),
        CheckConstraint("amount_cents > 0", name="amount_positive"),
    )

    receivable_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("receivable.id", ondelete="CASCADE")
    )
    kind: Mapped[ChargeKind] = mapped_column(str_enum(ChargeKind, "charge_kind"))
    pix_mode: Mapped[PixMode | None] = mapped_column(str_enum(PixMode, "pix_mode"))
    # What the amount was computed from: a change in either means a new document.
    basis_balance: Mapped[Decimal] = mapped_column("basis_balance_cents", Money)
    basis_due_date: Mapped[date] = mapped_column(Date)
    terms_fingerprint: Mapped[str] = mapped_column(String(64))
    amount: Mapped[Decimal] = mapped_column("amount_cents", Money)
    due_date: Mapped[date] = mapped_column(Date)
    expires_on: Mapped[date] = mapped_column(Date)  # last day it may be paid
    # Boleto
    bank_code: Mapped[str | None] = mapped_column(String(3))
    nosso_numero: Mapped[str | None] = mapped_column(String(30))
    nosso_numero_printed: Mapped[str | None] = mapped_column(String(40))
    barcode: Mapped[str | None] = mapped_column(String(44))
    linha_digitavel: Mapped[str | None] = mapped_column(String(47))
    # PIX
    txid: Mapped[str | None] = mapped_column(String(35))
    br_code: Mapped[str | None] = mapped_column(Text)
    psp_location: Mapped[str | None] = mapped_column(String(300))
    psp_status: Mapped[str | None] = mapped_column(String(40))
    psp_revision: Mapped[int | None] = mapped_column(Integer)
    # The itemised amount and the after-due terms, as shown to the debtor.
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    superseded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
