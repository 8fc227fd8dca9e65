"""Secrets at rest: the credentials a tenant gives us (PSP client secret, the PSP webhook URL
with its API key, channel passwords and tokens) are stored encrypted, never as given.

Fernet (AES-128-CBC with HMAC-SHA256, from ``cryptography``) under the keys in
``ADIMPLE_ENCRYPTION_KEYS``: comma-separated, newest first. New values are encrypted with the
first key; any of them decrypts, so a key is rotated by putting a new one in front, running
``adimple secrets rotate`` (re-encrypts every stored value with it) and then dropping the old
one. Without the setting the key is derived from ``ADIMPLE_SECRET_KEY`` (HKDF-SHA256), so a
development database works out of the box; production sets its own keys (README).

A database dump alone then discloses no credential: reading one also needs the key, which lives
in the application's environment, not in the database.
"""

from __future__ import annotations

import base64
from functools import lru_cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import JSON, Text
from sqlalchemy.types import TypeDecorator

from adimple.kit.errors import DomainError
from adimple.settings import get_settings

# Every Fernet token starts with its version byte 0x80, "gAAAAA" in URL-safe base64.
TOKEN_PREFIX = "gAAAAA"


class SecretUnreadable(DomainError):
    """A stored secret that none of the configured keys decrypts: the server's configuration,
    not the request, is wrong (the API answers 500 with this explanation)."""

    status_code = 500
    title = "Credencial ilegível"


class EncryptionKeysInvalid(Exception):
    """``ADIMPLE_ENCRYPTION_KEYS`` holds something that is not a Fernet key."""


def generate_key() -> str:
    """A new random key, as ``ADIMPLE_ENCRYPTION_KEYS`` takes it."""
    return Fernet.generate_key().decode("ascii")


def key_from_secret(secret_key: str) -> str:
    """The key used when ``ADIMPLE_ENCRYPTION_KEYS`` is unset: HKDF-SHA256 of the secret key.
    To move such a database to keys of its own, list this one after the new key and rotate."""
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"adimple-secrets-at-rest")
    return base64.urlsafe_b64encode(hkdf.derive(secret_key.encode())).decode("ascii")


@lru_cache(maxsize=8)
def _fernet(keys: str, secret_key: str) -> MultiFernet:
    if not keys.strip():
        return MultiFernet([Fernet(key_from_secret(secret_key).encode("ascii"))])
    fernets = []
    for position, key in enumerate((k.strip() for k in keys.split(",") if k.strip()), start=1):
        try:
            fernets.append(Fernet(key.encode("ascii")))
        except (ValueError, UnicodeEncodeError):
            raise EncryptionKeysInvalid(
                f"ADIMPLE_ENCRYPTION_KEYS: key {position} is not a Fernet key (32 bytes in "
                "URL-safe base64, 44 characters; `adimple secrets new-key` makes one)"
            ) from None
    return MultiFernet(fernets)


def keyring() -> MultiFernet:
    settings = get_settings()
    return _fernet(settings.encryption_keys, settings.secret_key)


def encrypt(value: str) -> str:
    return keyring().encrypt(value.encode("utf-8")).decode("ascii")


def decrypt(token: str, *, what: str = "a stored secret") -> str:
    try:
        return keyring().decrypt(token.encode("ascii")).decode("utf-8")
    except (InvalidToken, UnicodeEncodeError):
        raise SecretUnreadable(
            f"{what} cannot be decrypted with ADIMPLE_ENCRYPTION_KEYS: the key it was stored "
            "with is not among them (after a key change, list the old key after the new one "
            "until `adimple secrets rotate` has run)"
        ) from None


def rotate(token: str, *, what: str = "a stored secret") -> str:
    """``token`` re-encrypted with the first key (unchanged content)."""
    try:
        return keyring().rotate(token.encode("ascii")).decode("ascii")
    except (InvalidToken, UnicodeEncodeError):
        decrypt(token, what=what)  # raises with the explanation
        raise  # pragma: no cover - decrypt raised


class EncryptedText(TypeDecorator[str]):
    """A text column stored as a Fernet token (``NULL`` stays ``NULL``)."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Any) -> str | None:
        return None if value is None else encrypt(value)

    def process_result_value(self, value: str | None, dialect: Any) -> str | None:
        return None if value is None else decrypt(value)


class EncryptedValues(TypeDecorator[dict[str, Any]]):
    """A JSON object whose values are stored as Fernet tokens; its keys stay readable, so the
    API can say which secrets are set without decrypting any."""

    impl = JSON
    cache_ok = True

    def process_bind_param(self, value: dict[str, Any] | None, dialect: Any) -> Any:
        if value is None:
            return None
        return {k: None if v is None else encrypt(str(v)) for k, v in value.items()}

    def process_result_value(self, value: Any, dialect: Any) -> dict[str, Any] | None:
        if value is None:
            return None
        return {
            k: None if v is None else decrypt(v, what=f"secret {k!r}") for k, v in value.items()
        }
