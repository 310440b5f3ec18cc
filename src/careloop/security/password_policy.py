"""Which passwords an account may have: long, not a common one, and hard to guess.

Three checks, cheapest first: at least 12 characters; not among the 30,000 most common
passwords (the list bundled with ``zxcvbn``, compared case-insensitively); and a ``zxcvbn``
strength score of at least 3 of 4 ("safely unguessable"), which also catches keyboard walks,
dates, repeats, l33t spellings and passwords built from the username. The error names the
field and says why, never the password.
"""

from __future__ import annotations

from functools import cache

from zxcvbn import zxcvbn
from zxcvbn.frequency_lists import FREQUENCY_LISTS

from careloop.errors import InvalidInput

MIN_PASSWORD_LENGTH = 12
MIN_SCORE = 3
# zxcvbn's run time grows with length; characters past this add nothing to the verdict.
_SCORED_PREFIX = 100


@cache
def common_passwords() -> frozenset[str]:
    return frozenset(FREQUENCY_LISTS["passwords"])


def check_password(password: str, *, user_inputs: tuple[str, ...] = ()) -> None:
    """Raise :class:`InvalidInput` (field ``password``) unless ``password`` is acceptable."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(
            f"password must be at least {MIN_PASSWORD_LENGTH} characters", field="password"
        )
    if password.lower() in common_passwords():
        raise InvalidInput("password is one of the most common passwords", field="password")
    result = zxcvbn(password[:_SCORED_PREFIX], user_inputs=[u for u in user_inputs if u])
    if int(result["score"]) < MIN_SCORE:
        hint = str(result.get("feedback", {}).get("warning") or "it is too easy to guess")
        raise InvalidInput(f"password is too weak: {hint.rstrip('.')}", field="password")
