"""OperationOutcome: how every FHIR error (and an intake's informational answer) is said."""

from __future__ import annotations

from typing import Any

from careloop.errors import (
    CareloopError,
    Conflict,
    InvalidInput,
    NotAuthenticated,
    NotFound,
    PermissionDenied,
)

# careloop's exception tree → (HTTP status, OperationOutcome issue code).
_CODES: tuple[tuple[type[CareloopError], int, str], ...] = (
    (InvalidInput, 400, "invalid"),
    (NotFound, 404, "not-found"),
    (Conflict, 409, "conflict"),
    (PermissionDenied, 403, "forbidden"),
    (NotAuthenticated, 401, "login"),
)


class PreconditionFailed(Conflict):
    """A conditional interaction whose criteria matched more than one resource (412)."""


class Unprocessable(InvalidInput):
    """A well-formed resource careloop will not accept (422, as R4 says for business rules)."""


def issue(
    message: str,
    *,
    code: str = "invalid",
    severity: str = "error",
    expression: str | None = None,
) -> dict[str, Any]:
    entry: dict[str, Any] = {"severity": severity, "code": code, "diagnostics": message}
    if expression:
        entry["expression"] = [expression]
    return entry


def outcome(*issues: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "OperationOutcome", "issue": list(issues)}


def status_and_outcome(exc: CareloopError) -> tuple[int, dict[str, Any]]:
    """The HTTP status and OperationOutcome for a careloop error (messages carry no PHI)."""
    if isinstance(exc, PreconditionFailed):
        return 412, outcome(issue(str(exc), code="duplicate"))
    if isinstance(exc, Unprocessable):
        return 422, outcome(issue(str(exc), code="processing", expression=exc.field))
    for cls, status, code in _CODES:
        if isinstance(exc, cls):
            field = exc.field if isinstance(exc, InvalidInput) else None
            return status, outcome(issue(str(exc), code=code, expression=field))
    return 400, outcome(issue(str(exc), code="processing"))
