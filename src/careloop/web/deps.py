"""Request dependencies: the transaction, the clock, and who is calling.

Every router takes its session from :data:`SessionDep` (committed before the response is
sent, rolled back on any error) and its caller from :func:`require`, the one place where
authentication and role checks happen. Deny by default.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from careloop.clock import Clock
from careloop.errors import NotAuthenticated, NotFound, PermissionDenied
from careloop.governance.auth import authenticate_token, principal_for_user
from careloop.governance.principal import Principal
from careloop.runtime import Runtime


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def get_clock(request: Request) -> Clock:
    return get_runtime(request).clock


def _session(request: Request) -> Iterator[Session]:
    session = get_runtime(request).sessions()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


SessionDep = Annotated[Session, Depends(_session, scope="function")]
ClockDep = Annotated[Clock, Depends(get_clock)]


def _client_address(request: Request) -> str | None:
    return request.client.host if request.client else None


def authenticate(request: Request, session: SessionDep, clock: ClockDep) -> Principal:
    """The caller from a bearer token or a console session cookie; 401 when neither."""
    header = request.headers.get("authorization", "")
    token: str | None = None
    if header.lower().startswith("bearer "):
        token = header[7:].strip()
    elif (cookie := request.cookies.get("careloop_session")) is not None:
        token = cookie
    if not token:
        raise NotAuthenticated("authentication required")
    user, row = authenticate_token(session, clock=clock, token=token)
    principal = principal_for_user(user, scopes=list(row.scopes))
    resolver = getattr(request.app.state, "patient_scope_resolver", None)
    if resolver is not None and principal.role == "caregiver":
        principal = resolver(session, principal, user)
    return Principal(
        actor=principal.actor,
        role=principal.role,
        user_id=principal.user_id,
        patient_ids=principal.patient_ids,
        scopes=principal.scopes,
        source=_client_address(request),
    )


PrincipalDep = Annotated[Principal, Depends(authenticate)]


def require(permission: str) -> Callable[..., Principal]:
    """A dependency that admits only callers whose role (and token scope) grant ``permission``."""

    def dependency(principal: PrincipalDep) -> Principal:
        if not principal.can(permission):
            raise PermissionDenied(f"role {principal.role} may not {permission}")
        return principal

    dependency.__name__ = f"require_{permission.replace(':', '_')}"
    return dependency


def check_patient_access(principal: Principal, patient_id: str) -> None:
    """Patients and caregivers reach only their own / proxied records.

    Refused with :class:`NotFound` (404), not 403, so that probing ids reveals nothing.
    """
    if principal.is_staff:
        return
    if patient_id not in principal.patient_ids:
        raise NotFound("no such patient")
