"""All ORM models in one package, so tables that point at each other never import in a cycle.

Each domain package owns the service functions that read and write its tables; other
packages call those functions instead of querying these models directly.
"""

from careloop.models.base import Base
from careloop.models.events import Event
from careloop.models.records import (
    Caregiver,
    FhirResource,
    Patient,
    PatientIdentifier,
    ResourceCode,
)

__all__ = [
    "Base",
    "Caregiver",
    "Event",
    "FhirResource",
    "Patient",
    "PatientIdentifier",
    "ResourceCode",
]
