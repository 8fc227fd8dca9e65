"""Channel adapters behind one interface, configured per tenant.

:func:`adapters_for_tenant` returns one adapter per :class:`Channel`: the tenant's
:class:`ChannelConfig` row when there is one, else the environment (for the demo and
development: ``ADIMPLE_CHANNEL_<CHANNEL>`` holding ``{"provider": …, "settings": {…},
"secrets": {…}}``, e.g. ``ADIMPLE_CHANNEL_EMAIL='{"provider": "smtp", "settings": {"host":
"localhost", "port": 1025, "security": "none", "from_address": "cobranca@example.com"}}'``),
else the sandbox, which stores messages instead of sending them.

Adapters are cached per (tenant, channel, configuration): the dispatcher may call
:func:`adapters_for_tenant` for every batch and still reuse the same HTTP connection pools; a
changed configuration builds a new adapter. Every adapter is safe to share between threads.
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session, defer

from adimple.kit.crypto import SecretUnreadable
from adimple.kit.errors import FieldError, ValidationFailed
from adimple.messaging.channels.base import (
    DEFAULT_TIMEOUT_SECONDS,
    ChannelAdapter,
    OutgoingMessage,
    PermanentSendError,
    SendResult,
    TransientSendError,
)
from adimple.messaging.channels.models import ChannelConfig, ProviderKind
from adimple.portfolio.models import Channel

__all__ = [
    "ChannelAdapter",
    "OutgoingMessage",
    "PermanentSendError",
    "SendResult",
    "TransientSendError",
    "adapters_for_tenant",
    "build_adapter",
]

# Which providers can deliver which channel (sandbox: any).
PROVIDER_CHANNELS: dict[ProviderKind, frozenset[Channel]] = {
    ProviderKind.SMTP: frozenset({Channel.EMAIL}),
    ProviderKind.GENERIC_HTTP: frozenset({Channel.SMS, Channel.WHATSAPP, Channel.EMAIL}),
    ProviderKind.WHATSAPP_CLOUD: frozenset({Channel.WHATSAPP}),
    ProviderKind.ZENVIA: frozenset({Channel.SMS}),
    ProviderKind.LETTER: frozenset({Channel.LETTER}),
    ProviderKind.SANDBOX: frozenset(Channel),
}


class _Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    timeout: float = Field(default=DEFAULT_TIMEOUT_SECONDS, gt=0, le=120)
    connect_timeout: float | None = Field(default=None, gt=0, le=120)


class SmtpSettings(_Settings):
    host: str = Field(min_length=1, max_length=253)
    port: int | None = Field(default=None, ge=1, le=65535)
    security: str = Field(default="starttls", pattern="^(starttls|ssl|none)$")
    username: str | None = Field(default=None, max_length=254)
    from_address: str = Field(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")
    from_name: str | None = Field(default=None, max_length=200)
    reply_to: str | None = Field(default=None, max_length=254)


class GenericHttpSettings(_Settings):
    base_url: str = Field(min_length=8, max_length=500, pattern=r"^https?://")
    sender: str | None = Field(default=None, max_length=64)
    unicode: bool = False


class WhatsAppCloudSettings(_Settings):
    base_url: str = Field(
        default="https://graph.facebook.com", min_length=8, max_length=500, pattern=r"^https?://"
    )
    api_version: str = Field(default="v21.0", pattern=r"^v\d{1,3}\.\d{1,3}$")
    phone_number_id: str = Field(min_length=1, max_length=64, pattern=r"^[0-9]+$")
    default_language: str = Field(default="pt_BR", pattern=r"^[a-z]{2}(_[A-Z]{2})?$")


class ZenviaSettings(_Settings):
    base_url: str = Field(
        default="https://api.zenvia.com", min_length=8, max_length=500, pattern=r"^https?://"
    )
    sender: str = Field(min_length=1, max_length=64)
    unicode: bool = False


class DirectorySettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    directory: str | None = Field(default=None, max_length=500)


SETTINGS_MODELS: dict[ProviderKind, type[BaseModel]] = {
    ProviderKind.SMTP: SmtpSettings,
    ProviderKind.GENERIC_HTTP: GenericHttpSettings,
    ProviderKind.WHATSAPP_CLOUD: WhatsAppCloudSettings,
    ProviderKind.ZENVIA: ZenviaSettings,
    ProviderKind.LETTER: DirectorySettings,
    ProviderKind.SANDBOX: DirectorySettings,
}
# Secret names each provider needs (stored apart, never returned by the API).
# ``webhook_secret``: what the provider signs its delivery webhooks with (read by
# messaging/inbound.py; falls back to ADIMPLE_WEBHOOK_SECRET).
SECRETS: dict[ProviderKind, tuple[str, ...]] = {
    ProviderKind.SMTP: ("password", "webhook_secret"),
    ProviderKind.GENERIC_HTTP: ("token", "webhook_secret"),
    ProviderKind.WHATSAPP_CLOUD: ("access_token", "webhook_secret"),
    ProviderKind.ZENVIA: ("token", "webhook_secret"),
    ProviderKind.LETTER: (),
    ProviderKind.SANDBOX: (),
}
REQUIRED_SECRETS: dict[ProviderKind, tuple[str, ...]] = {
    ProviderKind.WHATSAPP_CLOUD: ("access_token",),
    ProviderKind.ZENVIA: ("token",),
}


def validate_config(
    channel: Channel, provider: ProviderKind, settings: dict[str, Any], secrets: dict[str, Any]
) -> dict[str, Any]:
    """The normalised settings; :class:`ValidationFailed` naming each bad field."""
    errors: list[FieldError] = []
    if channel not in PROVIDER_CHANNELS[provider]:
        errors.append(
            FieldError("provider", f"'{provider.value}' não entrega o canal '{channel.value}'")
        )
    normalised: dict[str, Any] = {}
    try:
        normalised = SETTINGS_MODELS[provider].model_validate(settings).model_dump()
    except ValidationError as exc:
        for error in exc.errors():
            where = ".".join(str(p) for p in error["loc"])
            errors.append(FieldError(f"settings.{where}" if where else "settings", error["msg"]))
    for name in secrets:
        if name not in SECRETS[provider]:
            errors.append(FieldError(f"secrets.{name}", "segredo desconhecido para o provedor"))
        elif not isinstance(secrets[name], str) or len(secrets[name]) > 2000:
            errors.append(FieldError(f"secrets.{name}", "texto de até 2000 caracteres"))
    for name in REQUIRED_SECRETS.get(provider, ()):
        if not secrets.get(name):
            errors.append(FieldError(f"secrets.{name}", "obrigatório"))
    if errors:
        raise ValidationFailed(errors=errors, message="configuração de canal inválida")
    return normalised


def build_adapter(
    channel: Channel,
    provider: ProviderKind | str,
    settings: dict[str, Any],
    secrets: dict[str, Any],
    *,
    tenant: str,
) -> ChannelAdapter:
    """One adapter from a configuration (``tenant`` names the letter/sandbox folder)."""
    from adimple.messaging.channels.http import (
        GenericHttpAdapter,
        WhatsAppCloudAdapter,
        ZenviaSmsAdapter,
    )
    from adimple.messaging.channels.letter import LetterAdapter
    from adimple.messaging.channels.sandbox import SandboxAdapter
    from adimple.messaging.channels.smtp import SmtpAdapter

    kind = ProviderKind(provider)
    options = dict(settings)
    timeouts = {
        "timeout": options.pop("timeout", DEFAULT_TIMEOUT_SECONDS),
        "connect_timeout": options.pop("connect_timeout", None),
    }
    if kind is ProviderKind.SMTP:
        timeouts.pop("connect_timeout")
        return SmtpAdapter(password=secrets.get("password"), **options, **timeouts)
    if kind is ProviderKind.GENERIC_HTTP:
        return GenericHttpAdapter(
            token=secrets.get("token"), channel=channel, **options, **timeouts
        )
    if kind is ProviderKind.WHATSAPP_CLOUD:
        return WhatsAppCloudAdapter(access_token=secrets["access_token"], **options, **timeouts)
    if kind is ProviderKind.ZENVIA:
        return ZenviaSmsAdapter(token=secrets["token"], **options, **timeouts)
    if kind is ProviderKind.LETTER:
        return LetterAdapter(tenant=tenant, directory=options.get("directory"))
    return SandboxAdapter(tenant=tenant, directory=options.get("directory"))


def env_channel_configs() -> dict[Channel, dict[str, Any]]:
    """``ADIMPLE_CHANNEL_<CHANNEL>`` JSON documents (demo and development defaults)."""
    found: dict[Channel, dict[str, Any]] = {}
    for channel in Channel:
        name = f"ADIMPLE_CHANNEL_{channel.value.upper()}"
        raw = os.environ.get(name)
        if not raw:
            continue
        try:
            data = json.loads(raw)
            found[channel] = {
                "provider": str(data["provider"]),
                "settings": dict(data.get("settings") or {}),
                "secrets": dict(data.get("secrets") or {}),
            }
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            # Not the sandbox: a broken setting must not look like "sent".
            found[channel] = {
                "provider": "misconfigured",
                "settings": {},
                "secrets": {},
                "error": f"{name}: {exc}",
            }
    return found


class MisconfiguredAdapter:
    """Stands in for an adapter whose configuration cannot be built (bad env JSON, a stored
    setting a newer version no longer accepts): every send is a transient failure naming the
    problem, so messages wait for an operator instead of vanishing into the sandbox."""

    name = "misconfigured"

    def __init__(self, channel: Channel, reason: str) -> None:
        self.channel = channel
        self.reason = reason

    def send(self, message: OutgoingMessage) -> SendResult:
        raise TransientSendError(
            f"canal {self.channel.value} mal configurado: {self.reason}", provider=self.name
        )


_CACHE: dict[str, ChannelAdapter] = {}
_CACHE_LOCK = threading.Lock()


def _cached(
    channel: Channel,
    provider: str,
    settings: dict[str, Any],
    secrets: dict[str, Any],
    *,
    tenant_id: uuid.UUID,
    tenant: str,
) -> ChannelAdapter:
    key = json.dumps(
        [str(tenant_id), channel.value, provider, settings, secrets], sort_keys=True, default=str
    )
    with _CACHE_LOCK:
        adapter = _CACHE.get(key)
        if adapter is None:
            try:
                adapter = build_adapter(channel, provider, settings, secrets, tenant=tenant)
            except (TypeError, ValueError, KeyError) as exc:
                adapter = MisconfiguredAdapter(channel, f"{type(exc).__name__}: {exc}")
            _CACHE[key] = adapter
        return adapter


def adapters_for_tenant(session: Session, tenant_id: uuid.UUID) -> dict[Channel, ChannelAdapter]:
    """One adapter per channel for the tenant (configured, else environment, else sandbox)."""
    from adimple.tenancy.models import Tenant

    tenant = session.get(Tenant, tenant_id)
    folder = tenant.slug if tenant is not None else str(tenant_id)
    # Secrets are decrypted channel by channel (deferred): one that the configured keys cannot
    # read makes that channel misconfigured, not every channel of the tenant unusable.
    query = (
        select(ChannelConfig)
        .where(ChannelConfig.tenant_id == tenant_id)
        .options(defer(ChannelConfig.secrets))
    )
    rows = {Channel(row.channel): row for row in session.scalars(query)}
    env = env_channel_configs()
    adapters: dict[Channel, ChannelAdapter] = {}
    for channel in Channel:
        row = rows.get(channel)
        if row is not None:
            try:
                provider, settings, secrets = row.provider.value, row.settings, row.secrets
            except SecretUnreadable as error:
                adapters[channel] = MisconfiguredAdapter(channel, str(error))
                continue
        elif channel in env and "error" in env[channel]:
            adapters[channel] = MisconfiguredAdapter(channel, env[channel]["error"])
            continue
        elif channel in env:
            provider = env[channel]["provider"]
            settings, secrets = env[channel]["settings"], env[channel]["secrets"]
        else:
            provider, settings, secrets = ProviderKind.SANDBOX.value, {}, {}
        adapters[channel] = _cached(
            channel, provider, settings, secrets, tenant_id=tenant_id, tenant=folder
        )
    return adapters
