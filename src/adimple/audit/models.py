"""Append-only audit log (trilha de auditoria)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from adimple.db.base import Base, IdMixin, TenantMixin, UTCDateTime, utcnow


class AuditEvent(IdMixin, TenantMixin, Base):
    """Evento de auditoria: who did what to which record, and what changed.

    Rows are only ever inserted; nothing updates or deletes them.
    """

    __tablename__ = "audit_event"
    __table_args__ = (
        Index("ix_audit_event_tenant_entity", "tenant_id", "entity_type", "entity_id"),
        Index("ix_audit_event_tenant_time", "tenant_id", "occurred_at"),
    )

    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor: Mapped[str] = mapped_column(String(120))
    action: Mapped[str] = mapped_column(String(80))
    entity_type: Mapped[str] = mapped_column(String(40))
    entity_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
