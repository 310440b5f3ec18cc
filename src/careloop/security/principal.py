"""Who is calling: a staff user, a patient, a caregiver, a worker or the CLI operator."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from careloop.security.roles import STAFF_ROLES, Role, role_allows


@dataclass(frozen=True)
class Principal:
    """The authenticated caller of one request or command.

    ``patient_ids`` is the set of patients a patient or caregiver may act for (their own, or
    those who granted them proxy). ``scopes`` narrows a token below its role (empty = the
    role's full set). ``proxy_permissions`` says, per proxied patient, which permissions the
    patient granted a caregiver; ``permission`` is the one being exercised by this request
    (set by ``careloop.web.deps.require``), so the per-patient check can honour the grant.
    """

    actor: str
    role: Role
    user_id: int | None = None
    patient_ids: frozenset[str] = field(default_factory=frozenset)
    scopes: frozenset[str] = field(default_factory=frozenset)
    source: str | None = None
    proxy_permissions: Mapping[str, frozenset[str]] = field(default_factory=dict, hash=False)
    permission: str | None = None
    # When the caller last proved who they are (the sign-in that issued the token, or an
    # OIDC token's auth_time/iat); None for the CLI operator and workers.
    signed_in_at: datetime | None = None

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF_ROLES

    def can(self, permission: str) -> bool:
        if not role_allows(self.role, permission):
            return False
        return not self.scopes or permission in self.scopes

    def may_act_for(self, patient_id: str) -> bool:
        """Staff reach any patient; patients their own; caregivers within the proxy grant."""
        if self.is_staff:
            return True
        if patient_id not in self.patient_ids:
            return False
        if self.role == Role.CAREGIVER:
            wanted = self.permission or "patients:read"
            return wanted in self.proxy_permissions.get(patient_id, frozenset())
        return True


SYSTEM_WORKER = Principal(actor="system:worker", role=Role.CLINICIAN, source="worker")
CLI_OPERATOR = Principal(actor="system:cli", role=Role.ADMIN, source="cli")
