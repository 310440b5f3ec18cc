"""An optional second factor for staff: time-based one-time codes (RFC 6238, ``pyotp``).

Turned on per account (``careloop users enable-totp NAME`` shows the ``otpauth://`` URI
once, for an authenticator app). The secret is stored encrypted; a code is accepted for the
current 30-second step or the one before or after (clock drift), and each step only once,
so a code read over a shoulder cannot be replayed.
"""

from __future__ import annotations

from datetime import datetime

import pyotp

from careloop.models import User

ISSUER = "careloop"
STEP_SECONDS = 30
DRIFT_STEPS = 1


def enable_totp(user: User) -> str:
    """Give ``user`` a new secret; returns the provisioning URI (shown once, never logged)."""
    secret = pyotp.random_base32()
    user.totp_secret = secret
    user.totp_last_step = None
    return pyotp.TOTP(secret).provisioning_uri(name=user.username, issuer_name=ISSUER)


def totp_required(user: User) -> bool:
    return user.totp_secret is not None


def check_totp(user: User, code: str | None, *, now: datetime) -> bool:
    """True (and the step used up) when ``code`` is valid now and not used before."""
    if user.totp_secret is None or not code:
        return False
    totp = pyotp.TOTP(user.totp_secret, interval=STEP_SECONDS)
    current = int(now.timestamp()) // STEP_SECONDS
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if user.totp_last_step is not None and step <= user.totp_last_step:
            continue
        if pyotp.utils.strings_equal(totp.generate_otp(step), code.strip()):
            user.totp_last_step = step
            return True
    return False
