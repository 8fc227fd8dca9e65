"""Reading and saving a tenant's channel configuration (secrets are write-only)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from adimple.audit import service as audit
from adimple.messaging.channels import env_channel_configs, validate_config
from adimple.messaging.channels.models import ChannelConfig, ProviderKind
from adimple.portfolio.models import Channel


@dataclass(frozen=True)
class ChannelView:
    """What the API shows: never a secret's value, only which secrets are set."""

    channel: Channel
    provider: ProviderKind
    source: str  # tenant | environment | default
    settings: dict[str, Any]
    secrets_set: list[str]


def _row(session: Session, tenant_id: uuid.UUID, channel: Channel) -> ChannelConfig | None:
    return session.scalars(
        select(ChannelConfig).where(
            ChannelConfig.tenant_id == tenant_id, ChannelConfig.channel == channel
        )
    ).first()


def get_channel(session: Session, *, tenant_id: uuid.UUID, channel: Channel) -> ChannelView:
    row = _row(session, tenant_id, channel)
    if row is not None:
        return ChannelView(
            channel,
            ProviderKind(row.provider),
            "tenant",
            dict(row.settings),
            sorted(k for k, v in row.secrets.items() if v),
        )
    env = env_channel_configs().get(channel)
    if env is not None and "error" not in env:
        return ChannelView(
            channel,
            ProviderKind(env["provider"]),
            "environment",
            dict(env["settings"]),
            sorted(k for k, v in env["secrets"].items() if v),
        )
    return ChannelView(channel, ProviderKind.SANDBOX, "default", {}, [])


def save_channel(
    session: Session,
    *,
    tenant_id: uuid.UUID,
    channel: Channel,
    provider: ProviderKind,
    settings: dict[str, Any],
    secrets: dict[str, str] | None,
    actor: str,
) -> ChannelView:
    """Validates and stores the channel's configuration (audited without secret values).

    ``secrets`` None keeps the stored ones; a given key replaces its value, an empty string
    removes it. Changing the provider drops secrets that the new provider does not use.
    """
    row = _row(session, tenant_id, channel)
    merged: dict[str, str] = dict(row.secrets) if row is not None else {}
    for name, value in (secrets or {}).items():
        if value == "":
            merged.pop(name, None)
        else:
            merged[name] = value
    if row is not None and row.provider != provider:
        from adimple.messaging.channels import SECRETS

        merged = {k: v for k, v in merged.items() if k in SECRETS[provider]}
    normalised = validate_config(channel, provider, settings, merged)
    if row is None:
        row = ChannelConfig(
            tenant_id=tenant_id,
            channel=channel,
            provider=provider,
            settings=normalised,
            secrets=merged,
            updated_by=actor,
        )
        session.add(row)
    else:
        row.provider, row.settings, row.secrets, row.updated_by = (
            provider,
            normalised,
            merged,
            actor,
        )
    session.flush()
    audit.record(
        session,
        tenant_id=tenant_id,
        actor=actor,
        action="channel_config.saved",
        entity_type="channel_config",
        entity_id=row.id,
        data={
            "channel": channel.value,
            "provider": provider.value,
            "settings": normalised,
            "secrets_set": sorted(merged),
        },
    )
    return get_channel(session, tenant_id=tenant_id, channel=channel)
