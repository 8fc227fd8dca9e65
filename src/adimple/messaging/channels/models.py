"""Per-tenant channel configuration: which provider delivers a channel, with what settings."""

from __future__ import annotations

import enum
from typing import Any

from sqlalchemy import JSON, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from adimple.db.base import Base, IdMixin, TenantMixin, TimestampMixin, str_enum
from adimple.kit.crypto import EncryptedValues
from adimple.portfolio.models import Channel


class ProviderKind(enum.StrEnum):
    SMTP = "smtp"
    GENERIC_HTTP = "generic_http"
    WHATSAPP_CLOUD = "whatsapp_cloud"
    ZENVIA = "zenvia"  # Brazilian SMS provider, API v2
    LETTER = "letter"
    SANDBOX = "sandbox"


class ChannelConfig(IdMixin, TenantMixin, TimestampMixin, Base):
    """Configuração de canal. ``secrets`` (passwords, tokens) is write-only in the API.

    Each secret's value is stored encrypted (:mod:`adimple.kit.crypto`); its name is not, so
    the API can list which are set. A channel without a row uses the sandbox adapter.
    """

    __tablename__ = "channel_config"
    __table_args__ = (UniqueConstraint("tenant_id", "channel"),)

    channel: Mapped[Channel] = mapped_column(str_enum(Channel, "channel"))
    provider: Mapped[ProviderKind] = mapped_column(str_enum(ProviderKind, "provider_kind"))
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    secrets: Mapped[dict[str, Any]] = mapped_column(EncryptedValues, default=dict)
    updated_by: Mapped[str] = mapped_column(String(100))
