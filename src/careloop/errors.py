"""The documented exception tree. Edges turn these into 4xx answers or CLI errors.

Messages name the field or input at fault and never carry patient data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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


class Ambiguous(InvalidInput):
    """Input that names more than one thing (a service name two codes carry): ``candidates``
    lists them, each a small dict of what tells them apart, for the caller to choose."""

    def __init__(
        self, message: str, *, field: str, candidates: Sequence[Mapping[str, str]]
    ) -> None:
        super().__init__(message, field=field)
        self.candidates = [dict(c) for c in candidates]


def error_body(exc: CareloopError) -> dict[str, object]:
    """The machine-readable error: ``{"error", "field"?, "candidates"?}`` (the API's body and
    the CLI's ``--json`` answer)."""
    body: dict[str, object] = {"error": str(exc)}
    if isinstance(exc, InvalidInput) and exc.field:
        body["field"] = exc.field
    if isinstance(exc, Ambiguous):
        body["candidates"] = exc.candidates
    return body


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
