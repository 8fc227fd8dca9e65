"""What comes back from the channels: delivery/read/bounce reports, replies and opt-outs.

Webhooks are signed: ``X-Adimple-Signature: sha256=<hex>``, HMAC-SHA256 over the raw request
body under the tenant's ``ChannelConfig.secrets["webhook_secret"]`` for that provider, or the
installation-wide ``ADIMPLE_WEBHOOK_SECRET``. Nothing unsigned is ever accepted. Replays are
harmless: every event is idempotent and a status never moves backwards (read > delivered > sent).

A reply that is exactly "SAIR", "PARAR" or "STOP" (any case, accents and surrounding
punctuation ignored) opts the customer out of that channel, and the customer's queued messages
on it are cancelled in the same transaction — effective before the next claim.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import re
import unicodedata
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from adimple.audit import service as audit
from adimple.messaging.dispatcher import invalidate_contact_point
from adimple.messaging.models import OutboxMessage, OutboxStatus
from adimple.portfolio.models import Channel, ChannelOptOut, ContactKind, ContactPoint

SIGNATURE_HEADER = "X-Adimple-Signature"
STOP_WORDS = frozenset({"sair", "parar", "stop"})
_STAGE = {OutboxStatus.SENT: 1, OutboxStatus.DELIVERED: 2, OutboxStatus.READ: 3}


class InboundSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ADIMPLE_", env_file=".env", extra="ignore")

    webhook_secret: str | None = None


# --- signatures ----------------------------------------------------------------------------


def sign(secret: str, body: bytes) -> str:
    """The header value a provider (or our test) sends: ``sha256=<hex>``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_matches(secrets: Iterable[str], body: bytes, header: str | None) -> bool:
    if not header:
        return False
    given = header.strip()
    given = given.removeprefix("sha256=")
    matched = False
    for secret in secrets:  # compare against every secret: no early exit, constant time each
        matched |= hmac.compare_digest(sign(secret, body).removeprefix("sha256="), given)
    return matched


def webhook_secrets(session: Session, *, provider: str, tenant_id: uuid.UUID | None) -> list[str]:
    """The secrets a webhook for ``provider`` may be signed with (tenant's first)."""
    from adimple.messaging.channels.models import ChannelConfig, ProviderKind

    secrets: list[str] = []
    if tenant_id is not None:
        try:
            kind = ProviderKind(provider)
        except ValueError:
            kind = None
        if kind is not None:
            configs = session.scalars(
                select(ChannelConfig).where(
                    ChannelConfig.tenant_id == tenant_id, ChannelConfig.provider == kind
                )
            )
            for config in configs:
                secret = (config.secrets or {}).get("webhook_secret")
                if isinstance(secret, str) and secret:
                    secrets.append(secret)
    installation = InboundSettings().webhook_secret
    if installation:
        secrets.append(installation)
    return secrets


# --- events --------------------------------------------------------------------------------


class EventType(enum.StrEnum):
    DELIVERED = "delivered"
    READ = "read"
    BOUNCED = "bounced"
    FAILED = "failed"
    REPLY = "reply"


class WebhookEvent(BaseModel):
    """One provider report, in Adimple's provider-neutral form (docs/messaging.md)."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    type: EventType
    provider_message_id: str | None = Field(default=None, max_length=200)
    idempotency_key: str | None = Field(
        default=None, max_length=200, description="Ours, when the provider echoes it back."
    )
    occurred_at: datetime | None = None
    reason: str | None = Field(default=None, max_length=500)
    channel: Channel | None = Field(default=None, description="For replies: sms or whatsapp.")
    sender: str | None = Field(default=None, alias="from", max_length=64)
    text: str | None = Field(default=None, max_length=4000)
    in_reply_to: str | None = Field(
        default=None, max_length=200, description="Provider id of the message replied to."
    )


class WebhookPayload(BaseModel):
    events: list[WebhookEvent] = Field(max_length=1000)


@dataclass
class WebhookOutcome:
    updated: int = 0
    ignored: int = 0
    unmatched: int = 0
    opted_out: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


def apply_events(
    session: Session,
    *,
    provider: str,
    events: Iterable[WebhookEvent],
    tenant_id: uuid.UUID | None,
    now: datetime,
) -> WebhookOutcome:
    """Applies a webhook's events (flushes; the request commits)."""
    outcome = WebhookOutcome()
    for event in events:
        if event.type == EventType.REPLY:
            outcome.opted_out += handle_reply(
                session,
                tenant_id=tenant_id,
                channel=event.channel or Channel.SMS,
                sender=event.sender,
                text=event.text or "",
                in_reply_to=event.in_reply_to,
                provider=provider,
                now=now,
                actor=f"webhook:{provider}",
            )
            continue
        messages = _matching(session, event, tenant_id, provider)
        if not messages:
            outcome.unmatched += 1
            continue
        for message in messages:
            if apply_status(session, message, event, now=now, actor=f"webhook:{provider}"):
                outcome.updated += 1
            else:
                outcome.ignored += 1
    session.flush()
    return outcome


def _matching(
    session: Session, event: WebhookEvent, tenant_id: uuid.UUID | None, provider: str
) -> list[OutboxMessage]:
    conditions: list[Any] = []
    if event.provider_message_id:
        # The (provider, provider_message_id) index: ``provider`` is the adapter's name.
        conditions.append(OutboxMessage.provider == provider)
        conditions.append(OutboxMessage.provider_message_id == event.provider_message_id)
    elif event.idempotency_key and tenant_id is not None:
        conditions.append(OutboxMessage.idempotency_key == event.idempotency_key)
    else:
        return []
    if tenant_id is not None:
        conditions.append(OutboxMessage.tenant_id == tenant_id)
    query = select(OutboxMessage).where(*conditions).limit(10)
    return list(session.scalars(query.with_for_update()))


def apply_status(
    session: Session, message: OutboxMessage, event: WebhookEvent, *, now: datetime, actor: str
) -> bool:
    """Moves ``message`` forward according to ``event``; never backwards. True if it changed.

    A report can beat the dispatcher's own commit (the row is still ``sending``): only the time
    is recorded then, and the dispatcher sets the furthest status known when it commits.
    """
    at = event.occurred_at or now
    status = OutboxStatus(message.status)
    if event.type in (EventType.DELIVERED, EventType.READ):
        changed = False
        if message.delivered_at is None:
            message.delivered_at = at
            changed = True
        if event.type == EventType.READ and message.read_at is None:
            message.read_at = at
            changed = True
        target = OutboxStatus.READ if event.type == EventType.READ else OutboxStatus.DELIVERED
        if status in _STAGE and _STAGE[target] > _STAGE[status]:
            message.status = target
            changed = True
        return changed
    # Bounced or failed after acceptance. A message already read did arrive: ignore.
    if status not in (OutboxStatus.SENDING, OutboxStatus.SENT, OutboxStatus.DELIVERED):
        return False
    message.status = (
        OutboxStatus.BOUNCED if event.type == EventType.BOUNCED else OutboxStatus.FAILED
    )
    message.last_error = (event.reason or event.type.value)[:2000]
    if event.type == EventType.BOUNCED and message.contact_point_id is not None:
        invalidate_contact_point(
            session,
            tenant_id=message.tenant_id,
            contact_point_id=message.contact_point_id,
            reason=f"bounce: {event.reason or 'no reason given'}",
            now=now,
            actor=actor,
        )
    return True


# --- replies and opt-outs --------------------------------------------------------------------


def is_stop_reply(text: str) -> bool:
    """ "SAIR", "parar", " Stop! " → True; "não quero sair" → False (whole message only)."""
    folded = unicodedata.normalize("NFKD", text)
    folded = "".join(c for c in folded if not unicodedata.combining(c)).casefold()
    folded = re.sub(r"[\W_]+", " ", folded).strip()
    return folded in STOP_WORDS


def handle_reply(
    session: Session,
    *,
    tenant_id: uuid.UUID | None,
    channel: Channel,
    sender: str | None,
    text: str,
    in_reply_to: str | None,
    now: datetime,
    actor: str,
    provider: str | None = None,
) -> int:
    """A reply by SMS/WhatsApp. Stop words opt the sender out of that channel; returns how
    many customers were opted out. Other replies are left to the operators' inbox (later)."""
    if not is_stop_reply(text):
        return 0
    customers: set[tuple[uuid.UUID, uuid.UUID]] = set()
    if in_reply_to:
        query = select(OutboxMessage.tenant_id, OutboxMessage.customer_id).where(
            OutboxMessage.provider_message_id == in_reply_to
        )
        if provider is not None:
            query = query.where(OutboxMessage.provider == provider)
        if tenant_id is not None:
            query = query.where(OutboxMessage.tenant_id == tenant_id)
        customers.update((row[0], row[1]) for row in session.execute(query))
    if not customers and sender:
        phone = _e164(sender)
        if phone is not None:
            # Every debtor whose phone this is (scoped to the tenant when the webhook names it):
            # honouring a STOP too widely is the safe side of the law.
            query = select(ContactPoint.tenant_id, ContactPoint.customer_id).where(
                ContactPoint.kind == ContactKind.PHONE, ContactPoint.value == phone
            )
            if tenant_id is not None:
                query = query.where(ContactPoint.tenant_id == tenant_id)
            customers.update((row[0], row[1]) for row in session.execute(query))
    for tenant, customer in sorted(customers):
        opt_out(
            session,
            tenant_id=tenant,
            customer_id=customer,
            channel=channel,
            source="reply",
            actor=actor,
            now=now,
            detail={"text": text[:40]},
        )
    return len(customers)


def _e164(text: str) -> str | None:
    from adimple.portfolio.validation import normalize_phone

    try:
        return normalize_phone(text)
    except ValueError:
        return None


@dataclass(frozen=True)
class OptOutResult:
    created: bool  # False: the customer had already opted out of this channel
    cancelled: int  # queued messages cancelled now


def opt_out(
    session: Session,
    *,
    tenant_id: uuid.UUID,
    customer_id: uuid.UUID,
    channel: Channel,
    source: str,
    actor: str,
    now: datetime,
    detail: dict[str, Any] | None = None,
) -> OptOutResult:
    """Descadastro: the customer asked for no more messages on ``channel``. Idempotent.

    Queued messages on the channel are cancelled at once (reason ``opt_out``); a message a
    worker is sending right now has already passed the guards and goes out. Audited every time
    it is asked, including repeats.
    """
    existing = session.scalar(
        select(ChannelOptOut.id).where(
            ChannelOptOut.tenant_id == tenant_id,
            ChannelOptOut.customer_id == customer_id,
            ChannelOptOut.channel == channel,
        )
    )
    created = False
    if existing is None:
        try:
            with session.begin_nested():
                session.add(
                    ChannelOptOut(
                        tenant_id=tenant_id,
                        customer_id=customer_id,
                        channel=channel,
                        source=source[:40],
                        created_at=now,
                    )
                )
            created = True
        except IntegrityError:  # the same request twice at once: the other one won
            created = False
    queued = list(
        session.scalars(
            select(OutboxMessage)
            .where(
                OutboxMessage.tenant_id == tenant_id,
                OutboxMessage.customer_id == customer_id,
                OutboxMessage.channel == channel,
                OutboxMessage.status == OutboxStatus.QUEUED,
            )
            .with_for_update()
        )
    )
    for message in queued:
        message.status = OutboxStatus.CANCELLED
        message.cancel_reason = "opt_out"
        message.updated_at = now
    _record_suppressions(session, queued, now)
    audit.record(
        session,
        tenant_id=tenant_id,
        actor=actor,
        action="customer.opted_out",
        entity_type="customer",
        entity_id=customer_id,
        data={
            "channel": channel.value,
            "source": source,
            "already_opted_out": not created,
            "cancelled_messages": len(queued),
            **(detail or {}),
        },
    )
    session.flush()
    return OptOutResult(created=created, cancelled=len(queued))


def _record_suppressions(session: Session, messages: list[OutboxMessage], now: datetime) -> None:
    if not messages:
        return
    from adimple.cadence.models import SuppressionReason
    from adimple.compliance import service as compliance

    for message in messages:
        compliance.record_suppression(session, message, SuppressionReason.OPT_OUT, now=now)
