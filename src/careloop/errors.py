"""The documented exception tree. Edges turn these into 4xx answers or CLI errors.

Messages name the field or input at fault and never carry patient data.
"""

from __future__ import annotations


class CareloopError(Exception):
    """Base of every error careloop raises on purpose."""


class InvalidInput(CareloopError):
    """Input that cannot be used; ``field`` names what is wrong."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class LinkNotUsable(InvalidInput):
    """A signed link (booking, form) that is expired, already used, altered or signed under
    another key: the patient is shown what to do next, not a form error."""

    def __init__(self, message: str) -> None:
        super().__init__(message, field="token")


class NotFound(CareloopError):
    """The thing asked for does not exist (or the caller may not know it does)."""


class Conflict(CareloopError):
    """The request contradicts the current state (e.g. a transition not allowed)."""


class PermissionDenied(CareloopError):
    """The caller is known but not allowed to do this."""


class NotAuthenticated(CareloopError):
    """The caller is not known."""
