"""The documented exception tree. Edges turn these into 4xx answers or CLI errors.

Messages name the field or input at fault and never carry patient data.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydantic import ValidationError


class CareloopError(Exception):
    """Base of every error careloop raises on purpose."""


class InvalidInput(CareloopError):
    """Input that cannot be used; ``field`` names what is wrong."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field

    @classmethod
    def from_validation(cls, exc: ValidationError, *, source: str, whole: str) -> InvalidInput:
        """A file's model refusing it: ``source: field.path: why`` for the first error, and how
        many more there are (the field is ``whole`` when the document itself is at fault).
        Pydantic's validator names in the path are dropped; the value is never quoted."""
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"] if not str(p).startswith("function"))
        where = where or whole
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        return cls(f"{source}: {where}: {first['msg']}{more}", field=where)


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
