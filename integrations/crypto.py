"""Encryption at rest for stored AWS secrets, with a key list of its own so it can rotate.

MILLRACE_ENCRYPTION_KEYS holds Fernet keys, newest first: new values are encrypted with the first,
any key in the list decrypts, and `manage.py rotate_encryption_key` re-encrypts everything with the
first so an old key can then be dropped.
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings

__all__ = ["InvalidToken", "decrypt", "encrypt", "rotate"]


def _fernet() -> MultiFernet:
    return MultiFernet([Fernet(key.encode()) for key in settings.MILLRACE_ENCRYPTION_KEYS])


def encrypt(plaintext: str) -> str:
    return _fernet().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    return _fernet().decrypt(token.encode()).decode()


def rotate(token: str) -> str:
    return _fernet().rotate(token.encode()).decode()
