"""All ORM models in one package, so tables that point at each other never import in a cycle.

Each domain package owns the service functions that read and write its tables; other
packages call those functions instead of querying these models directly.
"""

from careloop.models.access import AccessBooking, AccessOffer, AccessRide, WaitlistEntry
from careloop.models.base import Base
from careloop.models.careteam import PlanAdjustment, WorklistItem
from careloop.models.content import ContentMessage, ContentVersion
from careloop.models.events import Event
from careloop.models.feedback import CheckinConversation, Device
from careloop.models.fhir import (
    BulkExport,
    BulkExportFile,
    FhirNotification,
    FhirSubscription,
    FhirSubscriptionSeen,
    SmartAssertion,
    SmartClient,
)
from careloop.models.forms import FormRequest
from careloop.models.governance import (
    ApiToken,
    AuditChainHead,
    AuditCheckpoint,
    AuditEvent,
    ConsentRecord,
    InstanceSecret,
    NumberOptOut,
    PortalCode,
    PortalContact,
    ProxyGrant,
    RetentionRun,
    SigninSource,
    User,
)
from careloop.models.insights import ProgramsRollup
from careloop.models.jobs import JobRun
from careloop.models.loyalty import RewardEntry
from careloop.models.measures import MeasureLibraryRow, MeasurePackageRow, MeasureValueSetRow
from careloop.models.medications import (
    AdverseEventCase,
    DoseConfirmation,
    MedicationSlot,
    PrepJourney,
)
from careloop.models.outreach import (
    ContactBudgetLock,
    Enrollment,
    InboundReply,
    OutboxMessage,
    SendAttempt,
    SenderSlot,
    WorkerPresence,
)
from careloop.models.personalize import DecisionRow, ModelStateRow, PreferenceProfileRow
from careloop.models.projection import FactColumnsBackfill, ResourceFact, ResourceFactBody
from careloop.models.records import (
    Caregiver,
    ContactLookup,
    ContactLookupState,
    FhirResource,
    Patient,
    PatientIdentifier,
    PhoneLineType,
)

__all__ = [
    "AccessBooking",
    "AccessOffer",
    "AccessRide",
    "AdverseEventCase",
    "ApiToken",
    "AuditChainHead",
    "AuditCheckpoint",
    "AuditEvent",
    "Base",
    "BulkExport",
    "BulkExportFile",
    "Caregiver",
    "CheckinConversation",
    "ConsentRecord",
    "ContactBudgetLock",
    "ContactLookup",
    "ContactLookupState",
    "ContentMessage",
    "ContentVersion",
    "DecisionRow",
    "Device",
    "DoseConfirmation",
    "Enrollment",
    "Event",
    "FactColumnsBackfill",
    "FhirNotification",
    "FhirResource",
    "FhirSubscription",
    "FhirSubscriptionSeen",
    "FormRequest",
    "InboundReply",
    "InstanceSecret",
    "JobRun",
    "MeasureLibraryRow",
    "MeasurePackageRow",
    "MeasureValueSetRow",
    "MedicationSlot",
    "ModelStateRow",
    "NumberOptOut",
    "OutboxMessage",
    "Patient",
    "PatientIdentifier",
    "PhoneLineType",
    "PlanAdjustment",
    "PortalCode",
    "PortalContact",
    "PreferenceProfileRow",
    "PrepJourney",
    "ProgramsRollup",
    "ProxyGrant",
    "ResourceFact",
    "ResourceFactBody",
    "RetentionRun",
    "RewardEntry",
    "SendAttempt",
    "SenderSlot",
    "SigninSource",
    "SmartAssertion",
    "SmartClient",
    "User",
    "WaitlistEntry",
    "WorkerPresence",
    "WorklistItem",
]
