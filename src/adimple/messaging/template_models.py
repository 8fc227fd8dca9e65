"""Message templates (versioned like the collection policy) and a tenant's extra tone terms."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from adimple.db.base import Base, IdMixin, TenantMixin, UTCDateTime, str_enum
from adimple.portfolio.models import Channel


class MessageTemplate(IdMixin, Base):
    """Modelo de mensagem: one immutable version of a template for one channel.

    ``tenant_id`` NULL is an installation-wide override of the shipped default files
    (``messaging/templates/<name>.<channel>.yaml``); a tenant's rows override both. Saving a
    change adds the next version and marks it ``active``; older versions stay for the record
    (what exactly was sent on a given day). ``body`` is Jinja2 (sandboxed), except for
    WhatsApp where it is the approved template text with Meta's ``{{1}}``… placeholders and
    ``whatsapp_params`` holds the ordered Jinja2 expressions that fill them.
    """

    __tablename__ = "message_template"
    __table_args__ = (
        Index(
            "uq_message_template_version",
            "tenant_id",
            "name",
            "channel",
            "version",
            unique=True,
        ),
    )

    tenant_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("tenant.id", ondelete="CASCADE")
    )
    name: Mapped[str] = mapped_column(String(64))
    channel: Mapped[Channel] = mapped_column(str_enum(Channel, "channel"))
    version: Mapped[int] = mapped_column(Integer)
    subject: Mapped[str | None] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    html: Mapped[str | None] = mapped_column(Text)
    whatsapp_template_name: Mapped[str | None] = mapped_column(String(100))
    whatsapp_language: Mapped[str | None] = mapped_column(String(10))
    whatsapp_params: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class ToneTerm(IdMixin, TenantMixin, Base):
    """A tenant's own forbidden term, checked on top of the maintained list (CDC art. 42, 71)."""

    __tablename__ = "tone_term"
    __table_args__ = (Index("uq_tone_term_tenant_term", "tenant_id", "term", unique=True),)

    term: Mapped[str] = mapped_column(String(80))
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
