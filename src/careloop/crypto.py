"""Keys and encryption at rest: secrets from the environment or a file, Fernet for columns.

Contact points are the identifiers most often leaked from a shared database, so columns that
hold them can be declared :class:`EncryptedText` / :class:`EncryptedJSON`. Values are
encrypted with Fernet (AES-128-CBC + HMAC-SHA256, authenticated) under the first key of
``security.encryption_key`` (comma-separated, newest first); older keys still decrypt, so
keys rotate without downtime. With no key configured (the single-user SQLite default),
values are stored as plain text and read back either way.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from pydantic import SecretStr
from sqlalchemy import Dialect, Text
from sqlalchemy.types import TypeDecorator

from careloop.errors import CareloopError
from careloop.settings import Settings, get_settings

log = logging.getLogger("careloop.crypto")

PREFIX = "fernet:"


class EncryptionKeyError(CareloopError):
    """A key is missing or does not fit the stored data (never says which value)."""


def read_secret(value: SecretStr | None, path: Path | None) -> str | None:
    """A secret from its setting or, preferably, from a file (``CARELOOP_..._FILE``)."""
    if path is not None:
        try:
            return path.read_text().strip() or None
        except OSError as exc:
            raise EncryptionKeyError(f"cannot read secret file: {exc.__class__.__name__}") from exc
    if value is not None:
        return value.get_secret_value().strip() or None
    return None


_EPHEMERAL: dict[str, bytes] = {}


def signing_key(settings: Settings) -> bytes:
    """The HMAC key for unsubscribe, booking and form links, CSRF tokens and contact digests.

    ``security.secret_key`` when configured; otherwise the key kept with the database
    (attached to a runtime's settings by ``open_runtime``), so every process on one database
    signs and verifies alike. Only settings never opened on a database (a bare ``Settings()``
    in a test) fall back to a per-process random key, with a warning.
    """
    secret = read_secret(settings.security.secret_key, settings.security.secret_key_file)
    if secret:
        return hashlib.sha256(b"careloop-signing:" + secret.encode()).digest()
    kept = settings.kept_signing_key
    if kept is not None:
        return kept
    if "signing" not in _EPHEMERAL:
        log.warning("security.secret_key is not set; using a per-process random key")
        _EPHEMERAL["signing"] = secrets.token_bytes(32)
    return _EPHEMERAL["signing"]


def configured_signing_key(settings: Settings) -> bytes | None:
    """The signing key only when one is configured (for what must outlive the process)."""
    secret = read_secret(settings.security.secret_key, settings.security.secret_key_file)
    return hashlib.sha256(b"careloop-signing:" + secret.encode()).digest() if secret else None


def signing_key_outlives_process(settings: Settings) -> bool:
    """Whether links signed now still verify in another process or after a restart."""
    return configured_signing_key(settings) is not None or settings.kept_signing_key is not None


def keyed_digest(key: bytes, text: str) -> str:
    """HMAC-SHA256 hex digest: a lookup key that cannot be reversed without ``key``."""
    return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()


def derived_fernet(key: bytes, purpose: str) -> Fernet:
    """A Fernet key derived from the signing key for one purpose (domain separation)."""
    import base64

    material = hmac.new(key, purpose.encode(), hashlib.sha256).digest()
    return Fernet(base64.urlsafe_b64encode(material))


class KeyRing:
    """Encrypts with the first key, decrypts with any (rotation)."""

    def __init__(self, keys: list[str]) -> None:
        try:
            self._fernet = MultiFernet([Fernet(k.encode()) for k in keys]) if keys else None
        except ValueError as exc:
            raise EncryptionKeyError("security.encryption_key is not a valid Fernet key") from exc

    @property
    def enabled(self) -> bool:
        return self._fernet is not None

    def encrypt(self, text: str) -> str:
        if self._fernet is None:
            return text
        return PREFIX + self._fernet.encrypt(text.encode()).decode()

    def decrypt(self, stored: str) -> str:
        if not stored.startswith(PREFIX):
            return stored
        if self._fernet is None:
            raise EncryptionKeyError("encrypted data found but security.encryption_key is not set")
        try:
            return self._fernet.decrypt(stored[len(PREFIX) :].encode()).decode()
        except InvalidToken as exc:
            raise EncryptionKeyError("no configured encryption key decrypts this value") from exc

    def rotate(self, stored: str) -> str:
        """Re-encrypt under the newest key (for a background re-keying job)."""
        return self.encrypt(self.decrypt(stored))


def keyring_from_settings(settings: Settings) -> KeyRing:
    raw = read_secret(settings.security.encryption_key, settings.security.encryption_key_file)
    keys = [k.strip() for k in (raw or "").replace("\n", ",").split(",") if k.strip()]
    return KeyRing(keys)


_active: list[KeyRing] = []


def active_keyring() -> KeyRing:
    """The process keyring, read from settings on first use (never at import time)."""
    if not _active:
        _active.append(keyring_from_settings(get_settings()))
    return _active[-1]


@contextmanager
def use_keyring(ring: KeyRing) -> Iterator[KeyRing]:
    """Use ``ring`` for columns in this block (tests, key rotation jobs)."""
    _active.append(ring)
    try:
        yield ring
    finally:
        _active.pop()


def generate_key() -> str:
    """A new Fernet key, for ``security.encryption_key``."""
    return Fernet.generate_key().decode()


class EncryptedText(TypeDecorator[str]):
    """A text column encrypted at rest with the active :class:`KeyRing`."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else active_keyring().encrypt(value)

    def process_result_value(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else active_keyring().decrypt(value)


class EncryptedJSON(TypeDecorator[Any]):
    """A JSON value (e.g. a list of contact points) stored encrypted as text.

    The database can no longer query inside it: look-ups by contact point go through a
    keyed digest column instead (see ``PortalContact.digest``).
    """

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return active_keyring().encrypt(orjson.dumps(value).decode())

    def process_result_value(self, value: str | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        return orjson.loads(active_keyring().decrypt(value))
