"""Signed, expiring, single-use portal links: ``{base_url}/portal/l/{token}``.

Every message carries one (issue 7): the token names the customer (whose id also fixes the
tenant), a link id derived from the message, and an expiry, and is signed with HMAC-SHA256 under
``settings.secret_key`` — stdlib only, like the opt-out links (messaging/optout.py). The link
itself reveals nothing: the portal still asks for a confirmation the creditor holds before it
shows a debt (DESIGN §5, "only the debtor"). Single use is enforced when the link is exchanged
for a session (``portal_link_use`` has a unique link id), not here.

The token is short (≈ 56 characters) so the URL fits an SMS.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from adimple.kit.signing import b64, sign, unb64
from adimple.settings import get_settings

_VERSION = 1
_SIG_BYTES = 12  # 96-bit truncated HMAC: forging needs ~2^96 tries against a rate-limited route
_CONTEXT = b"adimple-portal-link-v1"
_PAYLOAD = struct.Struct(">B16s8sI")  # version, customer id, link id, expiry (unix seconds)
# Letters travel by post, and a reminder sent at D-3 must still open the portal at D+20.
DEFAULT_TTL = timedelta(days=30)


class PortalLinkError(ValueError):
    """An altered, truncated or foreign token (``expired`` tells an expired one apart)."""

    def __init__(self, message: str, *, expired: bool = False) -> None:
        super().__init__(message)
        self.expired = expired


@dataclass(frozen=True)
class PortalLink:
    customer_id: uuid.UUID
    link_id: str  # 16 hex digits; unique per message, consumed once
    expires_at: datetime


def _sign(payload: bytes, secret: str | None) -> bytes:
    return sign(_CONTEXT, payload, size=_SIG_BYTES, secret=secret)


def link_id_for(seed: uuid.UUID | str) -> bytes:
    """The 8-byte link id of a message: re-rendering the same message gives the same link id."""
    raw = seed.bytes if isinstance(seed, uuid.UUID) else str(seed).encode()
    return hashlib.sha256(b"portal-link" + raw).digest()[:8]


def make_portal_token(
    customer_id: uuid.UUID,
    seed: uuid.UUID | str,
    *,
    issued_at: datetime,
    ttl: timedelta = DEFAULT_TTL,
    secret: str | None = None,
) -> str:
    expires = int((issued_at + ttl).timestamp())
    payload = _PAYLOAD.pack(_VERSION, customer_id.bytes, link_id_for(seed), expires)
    return f"{b64(payload)}.{b64(_sign(payload, secret))}"


def read_portal_token(
    token: str, *, now: datetime, secret: str | None = None, allow_expired: bool = False
) -> PortalLink:
    """Checks signature and expiry; :class:`PortalLinkError` when the link cannot be used.

    ``allow_expired``: a genuine link past its expiry still says whose it is (to send its owner
    a fresh one, never to open the portal)."""
    try:
        body, sig = token.strip().split(".", 1)
        payload, signature = unb64(body), unb64(sig)
    except (ValueError, UnicodeError) as exc:
        raise PortalLinkError("link inválido") from exc
    if len(payload) != _PAYLOAD.size or not hmac.compare_digest(signature, _sign(payload, secret)):
        raise PortalLinkError("link inválido")
    version, customer, link_id, expires = _PAYLOAD.unpack(payload)
    if version != _VERSION:
        raise PortalLinkError("link inválido")
    expires_at = datetime.fromtimestamp(expires, UTC)
    if now >= expires_at and not allow_expired:
        raise PortalLinkError("link expirado", expired=True)
    return PortalLink(uuid.UUID(bytes=customer), link_id.hex(), expires_at)


def portal_link_url(
    customer_id: uuid.UUID,
    seed: uuid.UUID | str,
    *,
    issued_at: datetime,
    base_url: str | None = None,
    ttl: timedelta | None = None,
) -> str:
    settings = get_settings()
    base = (base_url or settings.base_url).rstrip("/")
    token = make_portal_token(
        customer_id,
        seed,
        issued_at=issued_at,
        ttl=ttl or timedelta(days=settings.portal_link_days),
    )
    return f"{base}/portal/l/{token}"
