"""Who may read or write which FHIR resource type: careloop roles, narrowed by SMART scopes.

A SMART backend client's token carries scopes such as ``system/*.read`` or
``system/Observation.rs`` (SMART v1 and v2 forms) next to careloop permissions; a caller
with any SMART scope is held to them per resource type, one without is held to its role.
"""

from __future__ import annotations

from careloop.errors import NotFound, PermissionDenied
from careloop.security.principal import Principal
from careloop.security.smart import split_scope

CLINICAL_READ = "patients:read_clinical"


def smart_scopes(principal: Principal) -> list[str]:
    return sorted(s for s in principal.scopes if "/" in s and "." in s)


def _scope_allows(scope: str, resource_type: str, *, write: bool) -> bool:
    context, rtype, mode = split_scope(scope)
    if context not in ("system", "user", "patient") or rtype not in ("*", resource_type):
        return False
    mode = mode.split("?")[0]
    if mode == "*":
        return True
    if mode in ("read", "write"):
        return (mode == "write") == write
    if mode and set(mode) <= set("cruds"):
        return "c" in mode if write else bool(set(mode) & {"r", "s"})
    return False


def permission_for(resource_type: str) -> str:
    """The careloop permission a read of ``resource_type`` needs."""
    if resource_type == "Patient":
        return "patients:read"
    if resource_type == "Questionnaire":
        return "content:read"
    return CLINICAL_READ


def check_read(principal: Principal, resource_type: str) -> None:
    """Refuse (403) a type the caller's role or SMART scopes do not open."""
    wanted = permission_for(resource_type)
    allowed = principal.can(wanted) or (
        resource_type == "Questionnaire"
        and any(principal.can(p) for p in ("checkins:write", "patients:read"))
    )
    scopes = smart_scopes(principal)
    if scopes and not any(_scope_allows(s, resource_type, write=False) for s in scopes):
        allowed = False
    if not allowed:
        raise PermissionDenied(f"this token may not read {resource_type}")


def check_export(principal: Principal, types: tuple[str, ...]) -> None:
    """An export reads every type it names (no ``_type``: every type, ``system/*.read``)."""
    if not principal.can(CLINICAL_READ):
        raise PermissionDenied("this token may not export")
    for rtype in types or ("*",):
        scopes = smart_scopes(principal)
        if scopes and not any(_scope_allows(s, rtype, write=False) for s in scopes):
            raise PermissionDenied(f"this token may not read {rtype}")


def check_write(principal: Principal, resource_type: str) -> None:
    scopes = smart_scopes(principal)
    if scopes and not any(_scope_allows(s, resource_type, write=True) for s in scopes):
        raise PermissionDenied(f"this token may not create {resource_type}")


def patients_in_reach(principal: Principal) -> frozenset[str] | None:
    """None for staff and system clients (any patient); the own/proxied set otherwise."""
    if principal.is_staff:
        return None
    return frozenset(p for p in principal.patient_ids if principal.may_act_for(p))


def check_patient(principal: Principal, patient_id: str | None) -> None:
    """404 (not 403) for a resource of a patient out of reach, so ids reveal nothing."""
    if principal.is_staff:
        return
    if patient_id is None or not principal.may_act_for(patient_id):
        raise NotFound("no such resource")
