"""Tenants (the creditors) and their API keys."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from adimple.db.base import Base, IdMixin, TimestampMixin, UTCDateTime


class Tenant(IdMixin, TimestampMixin, Base):
    """Credor: the creditor whose portfolio is collected.

    Its legal name, CPF/CNPJ and address appear on every collection document (CDC art. 42-A).
    """

    __tablename__ = "tenant"

    slug: Mapped[str] = mapped_column(String(64), unique=True)
    legal_name: Mapped[str] = mapped_column(String(200))
    trade_name: Mapped[str | None] = mapped_column(String(200))
    document: Mapped[str] = mapped_column(String(14))  # CPF (11) or CNPJ (14), unformatted
    address: Mapped[str] = mapped_column(String(300))
    city: Mapped[str] = mapped_column(String(100))
    uf: Mapped[str] = mapped_column(String(2))
    postal_code: Mapped[str | None] = mapped_column(String(8))
    timezone: Mapped[str] = mapped_column(String(64), default="America/Sao_Paulo")
    contact_email: Mapped[str | None] = mapped_column(String(254))
    contact_phone: Mapped[str | None] = mapped_column(String(20))

    @property
    def display_name(self) -> str:
        return self.trade_name or self.legal_name


class ApiKey(IdMixin, TimestampMixin, Base):
    """An integrator's key, scoped to one tenant. Only the SHA-256 of the secret is stored."""

    __tablename__ = "api_key"
    __table_args__ = (Index("ix_api_key_tenant", "tenant_id"),)

    tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("tenant.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
