"""The debtor portal's own records: used links, sessions, access attempts, one-time codes."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from adimple.db.base import Base, IdMixin, TenantMixin, UTCDateTime


class PortalLinkUse(IdMixin, TenantMixin, Base):
    """A message link already exchanged for a session: a link opens the portal once."""

    __tablename__ = "portal_link_use"
    __table_args__ = (UniqueConstraint("tenant_id", "link_id"),)

    customer_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("customer.id", ondelete="CASCADE")
    )
    link_id: Mapped[str] = mapped_column(String(16))
    used_at: Mapped[datetime] = mapped_column(UTCDateTime)


class PortalSession(IdMixin, TenantMixin, Base):
    """Sessão do portal: a debtor whose identity was confirmed, for a short idle time.

    Only a SHA-256 of the cookie's random token is stored, so a database dump opens no session.
    """

    __tablename__ = "portal_session"
    __table_args__ = (
        UniqueConstraint("token_hash"),
        Index("ix_portal_session_tenant_customer", "tenant_id", "customer_id"),
    )

    customer_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("customer.id", ondelete="CASCADE")
    )
    token_hash: Mapped[str] = mapped_column(String(64))
    csrf_token: Mapped[str] = mapped_column(String(64))
    method: Mapped[str] = mapped_column(String(20))  # birth_date | otp
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)  # absolute limit
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ip: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(300))


class PortalAttempt(IdMixin, TenantMixin, Base):
    """Tentativa de confirmação de identidade, for the per-IP and per-customer limits."""

    __tablename__ = "portal_attempt"
    __table_args__ = (
        Index("ix_portal_attempt_tenant_customer_at", "tenant_id", "customer_id", "at"),
        Index("ix_portal_attempt_tenant_ip_at", "tenant_id", "ip", "at"),
    )

    customer_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("customer.id", ondelete="CASCADE")
    )
    ip: Mapped[str] = mapped_column(String(45))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    method: Mapped[str] = mapped_column(String(20))
    success: Mapped[bool] = mapped_column(Boolean)


class PortalOneTimeCode(IdMixin, TenantMixin, Base):
    """Código de acesso sent to a verified contact point of the debtor (hash stored, not code)."""

    __tablename__ = "portal_one_time_code"
    __table_args__ = (Index("ix_portal_otp_tenant_link", "tenant_id", "link_id"),)

    customer_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("customer.id", ondelete="CASCADE")
    )
    link_id: Mapped[str] = mapped_column(String(16))
    contact_point_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("contact_point.id", ondelete="CASCADE")
    )
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
