"""All ORM models in one package, so tables that point at each other never import in a cycle.

Each domain package owns the service functions that read and write its tables; other
packages call those functions instead of querying these models directly.
"""

from careloop.models.base import Base
from careloop.models.content import ContentMessage, ContentVersion
from careloop.models.events import Event
from careloop.models.governance import ApiToken, AuditChainHead, AuditEvent, User
from careloop.models.personalize import DecisionRow, ModelStateRow, PreferenceProfileRow
from careloop.models.records import (
    Caregiver,
    FhirResource,
    Patient,
    PatientIdentifier,
    ResourceCode,
)

__all__ = [
    "ApiToken",
    "AuditChainHead",
    "AuditEvent",
    "Base",
    "Caregiver",
    "ContentMessage",
    "ContentVersion",
    "DecisionRow",
    "Event",
    "FhirResource",
    "ModelStateRow",
    "Patient",
    "PatientIdentifier",
    "PreferenceProfileRow",
    "ResourceCode",
    "User",
]
