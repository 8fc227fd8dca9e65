"""The one small interface every channel adapter implements, and the message it sends.

An adapter turns an :class:`OutgoingMessage` (already rendered, already checked for the CDC
art. 42-A identification, amount, portal link and opt-out) into one provider call. It raises
:class:`TransientSendError` when trying again later may succeed (timeouts, connection errors,
HTTP 5xx and 429, SMTP 4xx, bad provider credentials) and :class:`PermanentSendError` when it
will not (invalid number or address, SMTP 5xx on the recipient, a template the provider
refuses). ``PermanentSendError.address_invalid`` says whether the contact point itself is bad
(the dispatcher then marks it invalid) or only this message is.

Adapters are built once per tenant and shared by the dispatcher's threads: they keep no
per-message state (HTTP adapters share one thread-safe ``httpx.Client``; the SMTP adapter opens
one connection per ``send``), and every provider call has connect and read timeouts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from adimple.portfolio.models import Channel

DEFAULT_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class OutgoingMessage:
    """One rendered message, ready for a channel.

    ``idempotency_key`` is the outbox row's key: e-mail sends it as the Message-ID, HTTP
    providers as their idempotency key / client reference, the letter batch refuses a second
    letter with it. ``template_params`` are the ordered parameters of a WhatsApp approved
    template; ``attachments`` are ``(filename, mime type, content)``.
    """

    idempotency_key: str
    channel: Channel
    to: str
    subject: str | None
    text: str
    html: str | None
    template: str
    template_params: list[str] = field(default_factory=list)
    attachments: list[tuple[str, str, bytes]] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SendResult:
    """The provider that accepted the message and the id it gave (or ours, when it gives none)."""

    provider: str
    provider_message_id: str


class SendError(Exception):
    """Base of the two outcomes the dispatcher distinguishes."""

    def __init__(self, message: str, *, provider: str = "", code: str | None = None) -> None:
        super().__init__(message)
        self.provider = provider
        self.code = code


class TransientSendError(SendError):
    """Try again later: timeout, connection error, HTTP 5xx/429, SMTP 4xx, provider config."""


class PermanentSendError(SendError):
    """Trying again will not help. ``address_invalid``: the contact point itself is bad."""

    def __init__(
        self,
        message: str,
        *,
        provider: str = "",
        code: str | None = None,
        address_invalid: bool = True,
    ) -> None:
        super().__init__(message, provider=provider, code=code)
        self.address_invalid = address_invalid


@runtime_checkable
class ChannelAdapter(Protocol):
    """A way to deliver messages of one channel; safe to share across threads."""

    name: str

    def send(self, message: OutgoingMessage) -> SendResult: ...
