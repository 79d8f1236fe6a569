"""Encryption of secrets at rest (webhook signing secrets, API keys) with Fernet.

``FIELD_ENCRYPTION_KEYS`` lists Fernet keys: the first encrypts, every one decrypts, so a key
is rotated by putting the new one first and re-encrypting (``rotate``) before dropping the old.
"""

from __future__ import annotations

from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings

__all__ = ["InvalidToken", "decrypt", "encrypt", "rotate"]


@lru_cache(maxsize=4)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        raise ValueError("FIELD_ENCRYPTION_KEYS is empty: no key to encrypt secrets with.")
    return MultiFernet([Fernet(key.encode("ascii")) for key in keys])


def _current() -> MultiFernet:
    # Keyed by the settings value, so override_settings in tests takes effect at once.
    return _fernet(tuple(settings.FIELD_ENCRYPTION_KEYS))


def encrypt(text: str) -> str:
    """Return the Fernet token (ASCII text) of ``text`` under the first configured key."""
    return _current().encrypt(text.encode("utf-8")).decode("ascii")


def decrypt(token: str) -> str:
    """Return the text ``encrypt`` was given; raise ``InvalidToken`` if no key opens ``token``."""
    return _current().decrypt(token.encode("ascii")).decode("utf-8")


def rotate(token: str) -> str:
    """Return ``token`` re-encrypted under the first key (after a key rotation)."""
    return _current().rotate(token.encode("ascii")).decode("ascii")
