"""Signed opt-out links: ``{base_url}/optout/{token}`` (descadastro de um canal).

The token names the tenant, the customer and the channel, and is signed with HMAC-SHA256 under
``settings.secret_key`` (stdlib only; itsdangerous is not a dependency). It does not expire: an
opt-out request must be honoured whenever it is made (CDC art. 43 §2 notices excepted, which the
dispatcher still sends). The token is short (≈ 60 characters) so it fits an SMS.
"""

from __future__ import annotations

import hmac
import uuid
from dataclasses import dataclass

from adimple.kit.signing import b64, sign, unb64
from adimple.portfolio.models import Channel
from adimple.settings import get_settings

_SIG_BYTES = 12  # 96-bit truncated HMAC: forging needs ~2^96 tries against a live endpoint
_CHANNEL_CODES = {channel: index for index, channel in enumerate(Channel)}
_CODE_CHANNELS = {index: channel for channel, index in _CHANNEL_CODES.items()}
_CONTEXT = b"adimple-optout-v1"


class OptOutTokenError(ValueError):
    """A token that was altered, truncated or signed with another key."""


@dataclass(frozen=True)
class OptOutRequest:
    tenant_id: uuid.UUID
    customer_id: uuid.UUID
    channel: Channel


def _sign(payload: bytes, secret: str | None) -> bytes:
    return sign(_CONTEXT, payload, size=_SIG_BYTES, secret=secret)


def make_optout_token(
    tenant_id: uuid.UUID,
    customer_id: uuid.UUID,
    channel: Channel | str,
    *,
    secret: str | None = None,
) -> str:
    """The URL-safe token for one customer's opt-out of one channel."""
    payload = tenant_id.bytes + customer_id.bytes + bytes([_CHANNEL_CODES[Channel(channel)]])
    return f"{b64(payload)}.{b64(_sign(payload, secret))}"


def read_optout_token(token: str, *, secret: str | None = None) -> OptOutRequest:
    """Checks the signature and returns what the token asks; :class:`OptOutTokenError` if bad."""
    try:
        body, sig = token.strip().split(".", 1)
        payload, signature = unb64(body), unb64(sig)
    except (ValueError, UnicodeError) as exc:
        raise OptOutTokenError("link de descadastro inválido") from exc
    if len(payload) != 33 or not hmac.compare_digest(signature, _sign(payload, secret)):
        raise OptOutTokenError("link de descadastro inválido")
    channel = _CODE_CHANNELS.get(payload[32])
    if channel is None:
        raise OptOutTokenError("link de descadastro inválido")
    return OptOutRequest(
        tenant_id=uuid.UUID(bytes=payload[:16]),
        customer_id=uuid.UUID(bytes=payload[16:32]),
        channel=channel,
    )


def optout_url(
    tenant_id: uuid.UUID,
    customer_id: uuid.UUID,
    channel: Channel | str,
    *,
    base_url: str | None = None,
) -> str:
    base = (base_url or get_settings().base_url).rstrip("/")
    return f"{base}/optout/{make_optout_token(tenant_id, customer_id, channel)}"
