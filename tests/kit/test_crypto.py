"""Secrets at rest: Fernet under ADIMPLE_ENCRYPTION_KEYS (newest first), or a key derived from
ADIMPLE_SECRET_KEY when unset."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from cryptography.fernet import Fernet

from adimple.kit.crypto import (
    TOKEN_PREFIX,
    EncryptionKeysInvalid,
    SecretUnreadable,
    decrypt,
    encrypt,
    generate_key,
    rotate,
)
from adimple.settings import get_settings


def test_a_token_is_not_the_secret_and_decrypts_back(use_keys: Callable[[str], None]) -> None:
    use_keys(generate_key())
    token = encrypt("s3nha-do-psp")
    assert token.startswith(TOKEN_PREFIX)
    assert "s3nha" not in token
    assert encrypt("s3nha-do-psp") != token  # a fresh IV each time
    assert decrypt(token) == "s3nha-do-psp"


def test_without_keys_the_key_comes_from_the_secret_key(
    use_keys: Callable[[str], None], monkeypatch: pytest.MonkeyPatch
) -> None:
    use_keys("")
    monkeypatch.setenv("ADIMPLE_SECRET_KEY", "a-long-random-value")
    get_settings.cache_clear()
    token = encrypt("tok")
    assert decrypt(token) == "tok"
    monkeypatch.setenv("ADIMPLE_SECRET_KEY", "another-value")
    get_settings.cache_clear()
    with pytest.raises(SecretUnreadable):
        decrypt(token)


def test_rotation_keeps_old_tokens_readable_until_rewritten(
    use_keys: Callable[[str], None],
) -> None:
    old, new = generate_key(), generate_key()
    use_keys(old)
    token = encrypt("tok")
    use_keys(f"{new}, {old}")
    assert decrypt(token) == "tok"  # the old key still reads it
    rotated = rotate(token)
    assert Fernet(new.encode()).decrypt(rotated.encode()) == b"tok"  # written with the new one
    use_keys(new)
    assert decrypt(rotated) == "tok"
    with pytest.raises(SecretUnreadable, match="list the old key after the new one"):
        decrypt(token)
    with pytest.raises(SecretUnreadable, match="psp_client_secret"):
        rotate(token, what="psp_client_secret")


def test_a_malformed_key_is_named_by_position(use_keys: Callable[[str], None]) -> None:
    use_keys(f"{generate_key()},not-a-key")
    with pytest.raises(EncryptionKeysInvalid, match="key 2 is not a Fernet key"):
        encrypt("x")
