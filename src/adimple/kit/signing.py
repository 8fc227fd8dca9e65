"""Short signed tokens for links (portal, opt-out): URL-safe base64 and a truncated HMAC.

Stdlib only. The HMAC is SHA-256 under ``settings.secret_key`` with a per-purpose context, so a
token made for one kind of link never verifies as another.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from adimple.settings import get_settings


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(context: bytes, payload: bytes, *, size: int, secret: str | None = None) -> bytes:
    key = (secret if secret is not None else get_settings().secret_key).encode()
    return hmac.new(key, context + payload, hashlib.sha256).digest()[:size]
