"""Email unsubscribe links that work without signing in (CAN-SPAM, RFC 8058 one-click).

The link carries an encrypted, authenticated, expiring token (Fernet under a key derived from
``security.secret_key``): it reveals nothing (not even the patient id) and cannot be forged
or altered. GET shows what the link will do; only POST changes anything, so mail scanners
that follow links do not unsubscribe people by accident.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import orjson
from cryptography.fernet import InvalidToken

from careloop.crypto import derived_fernet
from careloop.errors import InvalidInput
from careloop.governance.consent import ANY, parse_channel, parse_purpose

_PURPOSE = "careloop-unsubscribe-v1"
MAX_TOKEN_LENGTH = 1024


@dataclass(frozen=True)
class Unsubscribe:
    """What a link unsubscribes: one patient, one channel, one purpose (or ``*``); or, in a
    caregiver's copy (``address``), that caregiver's own mailbox, never the patient's consent."""

    patient_id: str
    channel: str
    purpose: str
    address: str | None = None
    language: str = "en"
    """The language of the email it came in: its page answers in it (older links: English)."""


def make_unsubscribe_token(
    *,
    key: bytes,
    patient_id: str,
    now: datetime,
    channel: str = "email",
    purpose: str = ANY,
    address: str | None = None,
    language: str = "en",
) -> str:
    payload = {
        "p": patient_id,
        "c": parse_channel(channel),
        "u": parse_purpose(purpose, allow_any=True),
        "l": language,
    }
    if address is not None:
        payload["a"] = address
    token = derived_fernet(key, _PURPOSE).encrypt_at_time(
        orjson.dumps(payload), int(now.timestamp())
    )
    return token.decode()


def read_unsubscribe_token(*, key: bytes, token: str, now: datetime, ttl: timedelta) -> Unsubscribe:
    """The link's meaning; forged, altered or expired tokens raise :class:`InvalidInput`."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        raise InvalidInput("invalid or expired unsubscribe link", field="token")
    try:
        raw = derived_fernet(key, _PURPOSE).decrypt_at_time(
            token.encode(), int(ttl.total_seconds()), int(now.timestamp())
        )
        payload = orjson.loads(raw)
        address = payload.get("a")
        return Unsubscribe(
            patient_id=str(payload["p"]),
            channel=str(payload["c"]),
            purpose=str(payload["u"]),
            address=None if address is None else str(address),
            language=str(payload.get("l") or "en"),
        )
    except (InvalidToken, ValueError, KeyError, TypeError, orjson.JSONDecodeError) as exc:
        raise InvalidInput("invalid or expired unsubscribe link", field="token") from exc


def unsubscribe_url(*, base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/unsubscribe/{token}"


def list_unsubscribe_headers(*, base_url: str, token: str) -> dict[str, str]:
    """The two headers every outgoing email should carry (RFC 2369 + RFC 8058)."""
    return {
        "List-Unsubscribe": f"<{unsubscribe_url(base_url=base_url, token=token)}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
