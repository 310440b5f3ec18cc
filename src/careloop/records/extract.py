"""Validation of incoming FHIR resources and the indexed columns drawn from them.

Supported types are validated against the FHIR R4 structure definitions (``fhir.resources``'
R4B models, structurally identical to R4 for these types); a wrong-typed field is reported by
its path. The compiled check of ``records.fhir_check`` passes the resources that are surely
valid, so the models run only for the rest (a few in practice, each one reported by field).
Other types are kept raw, unvalidated and unindexed, so references to them resolve.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, cast

import orjson
from pydantic import ValidationError

from careloop.fhirdata import dates
from careloop.fhirdata.codings import codings
from careloop.fhirdata.references import patient_id, reference_of
from careloop.records.fhir_bindings import binding_problem
from careloop.records.fhir_check import load_checks, surely_valid

# The clinical types a patient's timeline shows, in the order it lists them.
CLINICAL_TYPES = (
    "Encounter",
    "Condition",
    "Observation",
    "Procedure",
    "Immunization",
    "MedicationRequest",
    "MedicationDispense",
    "MedicationAdministration",
    "Appointment",
    "DiagnosticReport",
    "CarePlan",
    "Goal",
    "Coverage",
    "Consent",
    "QuestionnaireResponse",
)
# Where care can be booked: validated and indexed (a Slot's status and start) so the access
# domain's slot finder can search free slots by time without decoding every resource.
SCHEDULING_TYPES = ("Schedule", "Slot", "Location", "HealthcareService", "PractitionerRole")
# What a patient signed (careloop.forms): the document and the Provenance with the signature.
SIGNATURE_TYPES = ("DocumentReference", "Provenance")
# Validated and indexed; other types are stored raw so references to them resolve.
SUPPORTED_TYPES = frozenset(
    {"Patient", "RelatedPerson", "Questionnaire", *CLINICAL_TYPES, *SCHEDULING_TYPES}
    | set(SIGNATURE_TYPES)
)

# Where each type points at its patient.
_PATIENT_FIELDS: dict[str, tuple[str, ...]] = {
    "Immunization": ("patient",),
    "Coverage": ("beneficiary",),
    "Consent": ("patient",),
    "RelatedPerson": ("patient",),
    "AllergyIntolerance": ("patient",),
}
# Where each type keeps its codes.
_CODE_FIELDS: dict[str, tuple[str, ...]] = {
    "Observation": ("code", "valueCodeableConcept"),
    "Condition": ("code",),
    "Procedure": ("code",),
    "Immunization": ("vaccineCode",),
    "MedicationRequest": ("medicationCodeableConcept",),
    "MedicationDispense": ("medicationCodeableConcept",),
    "MedicationAdministration": ("medicationCodeableConcept",),
    "Encounter": ("type", "class"),
    "DiagnosticReport": ("code",),
    "CarePlan": ("category",),
    "Goal": ("description",),
    "Appointment": ("serviceType", "appointmentType"),
    "Coverage": ("type",),
    "Consent": ("category", "scope"),
    "Questionnaire": ("code",),
    "RelatedPerson": ("relationship",),
    "AllergyIntolerance": ("code",),
    "Slot": ("serviceType", "serviceCategory", "specialty", "appointmentType"),
    "Schedule": ("serviceType", "serviceCategory", "specialty"),
    "HealthcareService": ("type", "category", "specialty"),
    "PractitionerRole": ("code", "specialty"),
    "Location": ("type", "physicalType"),
    "DocumentReference": ("type", "category"),
}
# Where each type keeps its clinically relevant time: (dateTime fields, period fields).
_TIME_FIELDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "Observation": (("effectiveDateTime", "effectiveInstant", "issued"), ("effectivePeriod",)),
    "Condition": (("onsetDateTime", "recordedDate"), ("onsetPeriod",)),
    "Procedure": (("performedDateTime",), ("performedPeriod",)),
    "Immunization": (("occurrenceDateTime", "recorded"), ()),
    "MedicationRequest": (("authoredOn",), ()),
    "MedicationDispense": (("whenHandedOver", "whenPrepared"), ()),
    "MedicationAdministration": (("effectiveDateTime",), ("effectivePeriod",)),
    "Encounter": ((), ("period",)),
    "DiagnosticReport": (("effectiveDateTime", "issued"), ("effectivePeriod",)),
    "CarePlan": (("created",), ("period",)),
    "Goal": (("startDate",), ()),
    "Appointment": (("start",), ()),
    "Coverage": ((), ("period",)),
    "Consent": (("dateTime",), ()),
    "QuestionnaireResponse": (("authored",), ()),
    "Questionnaire": (("date",), ()),
    "AllergyIntolerance": (("onsetDateTime", "recordedDate"), ()),
    "Slot": (("start",), ()),
    "Schedule": ((), ("planningHorizon",)),
    "DocumentReference": (("date",), ()),
    "Provenance": (("recorded",), ()),
}


class ResourceProblem(ValueError):
    """A resource that cannot be stored; the message names the field."""


class IndexedResource:
    """A validated resource and its indexed columns.

    Parser processes hand these to the writing process, which needs the resource as JSON
    text for ``COPY`` and as a dict only for a few types (Patient, RelatedPerson). So a
    resource crosses the process boundary as its JSON bytes (cheap to pickle, no nested
    objects to rebuild), inside its COPY line when the parser made one
    (``records.copy_block``), and is decoded again only if someone asks for :attr:`resource`.
    """

    __slots__ = (
        "_json",
        "_resource",
        "codes",
        "copy_text",
        "effective_end",
        "effective_start",
        "fhir_id",
        "patient_ref",
        "resource_type",
        "status",
        "supported",
    )  # fmt: skip

    def __init__(
        self,
        *,
        resource_type: str,
        fhir_id: str,
        patient_ref: str | None,
        status: str | None,
        effective_start: datetime | None,
        effective_end: datetime | None,
        codes: tuple[tuple[str, str], ...],
        supported: bool,
        resource: dict[str, Any] | None = None,
        json: bytes | None = None,
    ) -> None:
        if resource is None and json is None:
            raise ValueError("an indexed resource needs its resource or its JSON")
        self.resource_type = resource_type
        self.fhir_id = fhir_id
        self.patient_ref = patient_ref
        self.status = status
        self.effective_start = effective_start
        self.effective_end = effective_end
        self.codes = codes
        self.supported = supported
        # Its COPY lines (records.store_copy.CopyText), when the parser made them.
        self.copy_text: object = None
        self._resource = resource
        self._json = json

    @property
    def resource(self) -> dict[str, Any]:
        if self._resource is None:
            self._resource = orjson.loads(self.json)
        return self._resource

    @property
    def json(self) -> bytes:
        """The resource as compact JSON (UTF-8)."""
        if self._json is None:
            if self._resource is None:  # sent inside its COPY row (records.copy_block)
                line, start = cast("tuple[bytes, int]", self.copy_text)
                self._json = line[start:]
            else:
                self._json = orjson.dumps(self._resource)
        return self._json

    def __reduce__(self) -> tuple[Any, ...]:
        # A resource whose COPY line holds its JSON (``copy_text``: that line and where the
        # JSON starts in it) is sent without its own: the line is the same object in its
        # unit's rows, so pickle writes it once.
        inline = isinstance(self.copy_text, tuple)
        return (_rebuild, (
            self.resource_type, self.fhir_id, self.patient_ref, self.status,
            self.effective_start, self.effective_end, self.codes, self.supported,
            None if inline else self.json, self.copy_text,
        ))  # fmt: skip


def _rebuild(
    rtype: str,
    fhir_id: str,
    ref: str | None,
    status: str | None,
    start: datetime | None,
    end: datetime | None,
    codes: tuple[tuple[str, str], ...],
    supported: bool,
    json: bytes | None,
    lines: object,
) -> IndexedResource:
    # The slots set directly (no keyword call, no check: the JSON is there): unpickling the
    # parsers' units is the writer's work, 25,000 of these for 100 Synthea files.
    rebuilt = object.__new__(IndexedResource)
    rebuilt.resource_type, rebuilt.fhir_id, rebuilt.patient_ref = rtype, fhir_id, ref
    rebuilt.status, rebuilt.effective_start, rebuilt.effective_end = status, start, end
    rebuilt.codes, rebuilt.supported, rebuilt.copy_text = codes, supported, lines
    rebuilt._resource, rebuilt._json = None, json
    return rebuilt


_model_cache: dict[str, Any] = {}


def _model_for(resource_type: str) -> Any:
    model = _model_cache.get(resource_type)
    if model is None:
        from fhir.resources.R4B import get_fhir_model_class

        model = get_fhir_model_class(resource_type)
        _model_cache[resource_type] = model
    return model


def load_validation() -> None:
    """Compile every supported type's check now, in the process that forks the parsers, so
    each parser does not pay for it again. (Patients' time zones are resolved by the writer,
    ``records.identity.refresh_demographics``: parsers never load the time-zone finder.)"""
    load_checks()


def validate_resource(resource: dict[str, Any]) -> None:
    """Raise :class:`ResourceProblem` naming the first invalid field: the models judge the
    structure, ``records.fhir_bindings`` the codes of required bindings (the models take any
    well-formed code)."""
    try:
        _model_for(resource["resourceType"]).model_validate(resource)
    except ValidationError as exc:
        error = exc.errors()[0]
        path = ".".join(str(part) for part in error.get("loc", ()))
        raise ResourceProblem(f"{path}: {error.get('msg', 'invalid')}") from None
    problem = binding_problem(resource)
    if problem is not None:
        raise ResourceProblem(problem)


def patient_reference(resource: dict[str, Any]) -> str | None:
    """The ``Patient/id`` this resource is about, if any."""
    rtype = resource["resourceType"]
    if rtype == "Patient":
        return f"Patient/{resource['id']}"
    for name in _PATIENT_FIELDS.get(rtype, ("subject", "patient")):
        # reference_of and patient_id inline (every resource of an import comes here)
        value = resource.get(name)
        mapping = type(value) is dict or isinstance(value, Mapping)
        ref = value.get("reference") if mapping else None  # type: ignore[union-attr]
        if isinstance(ref, str) and len(ref) > 8 and ref.startswith("Patient/"):
            return ref
    if rtype == "Appointment":
        for participant in resource.get("participant") or []:
            ref = reference_of(participant.get("actor")) if isinstance(participant, dict) else None
            if patient_id(ref):
                return ref
    if rtype == "Provenance":
        # No subject element: the patient is the signer, or the one a proxy signed for.
        for agent in resource.get("agent") or []:
            for name in ("onBehalfOf", "who"):
                ref = reference_of(agent.get(name)) if isinstance(agent, dict) else None
                if patient_id(ref):
                    return ref
    return None


def _codings_into(value: Any, out: list[tuple[str, str]]) -> None:
    """``fhirdata.codings.codings(value)`` appended to ``out``: the same pairs, without a
    generator per concept and an abstract-class check per coding (dicts and lists, as JSON
    decodes them, read here; anything else as that function reads it)."""
    if type(value) is list:
        for item in value:
            _codings_into(item, out)
        return
    if type(value) is not dict:
        if value is not None and isinstance(value, list | Mapping):
            out.extend(codings(value))
        return
    code = value.get("code")
    if isinstance(code, str):
        system = value.get("system")
        out.append((system if type(system) is str else str(system or ""), code))
    for coding in value.get("coding") or ():
        if type(coding) is dict or isinstance(coding, Mapping):
            code = coding.get("code")
            if isinstance(code, str):
                system = coding.get("system")
                out.append((system if type(system) is str else str(system or ""), code))


def resource_codes(resource: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    rtype = resource["resourceType"]
    codes: list[tuple[str, str]] = []
    for name in _CODE_FIELDS.get(rtype, ()):
        _codings_into(resource.get(name), codes)
    if rtype == "Observation":
        for component in resource.get("component") or []:
            if isinstance(component, dict):
                _codings_into(component.get("code"), codes)
    return tuple(dict.fromkeys(codes))


_INTERVALS: dict[str, tuple[datetime, datetime]] = {}
"""Times read before (``dates.interval``): the resources of an encounter share its times."""


def _interval(value: str) -> tuple[datetime, datetime]:
    found = _INTERVALS.get(value)
    if found is None:
        found = dates.interval(value)
        if len(_INTERVALS) >= 20_000:
            _INTERVALS.clear()
        _INTERVALS[value] = found
    return found


def resource_times(resource: dict[str, Any]) -> tuple[datetime | None, datetime | None]:
    """Start and end of the resource's relevant time (both None when it has none)."""
    rtype = resource["resourceType"]
    points, periods = _TIME_FIELDS.get(rtype, ((), ()))
    for name in periods:
        period = resource.get(name)
        if isinstance(period, dict) and (period.get("start") or period.get("end")):
            start = _interval(period["start"])[0] if period.get("start") else None
            end = _interval(period["end"])[1] if period.get("end") else None
            return start, end
    for name in points:
        value = resource.get(name)
        if isinstance(value, str):
            return _interval(value)
    if rtype == "Appointment" and isinstance(resource.get("end"), str):
        return None, _interval(resource["end"])[1]
    return None, None


def resource_status(resource: dict[str, Any]) -> str | None:
    status = resource.get("status")
    if isinstance(status, str):
        return status
    clinical = resource.get("clinicalStatus")
    return next((code for _, code in codings(clinical)), None)


def index_resource(
    resource: dict[str, Any], *, validate: bool = True, parsed: bool = False
) -> IndexedResource:
    """Validate a resource (supported types) and draw its indexed columns. ``parsed``: it
    was decoded from JSON text (``records.fhir_check.surely_valid``)."""
    rtype = resource["resourceType"]
    supported = rtype in SUPPORTED_TYPES
    if supported and validate and not surely_valid(resource, parsed=parsed):
        validate_resource(resource)
    try:
        start, end = resource_times(resource) if supported else (None, None)
    except (ValueError, TypeError, KeyError):
        raise ResourceProblem("a date field is not a valid FHIR date") from None
    ref, status = patient_reference(resource), resource_status(resource)
    codes = resource_codes(resource) if supported else ()
    if parsed:
        # One object for each value that recurs (a unit's patient, a code's pairs): pickled
        # once per unit to the writer, which then builds it once.
        rtype = _SHARED.setdefault(rtype, rtype)
        ref = None if ref is None else _SHARED.setdefault(ref, ref)
        status = None if status is None else _SHARED.setdefault(status, status)
        codes = _SHARED_CODES.setdefault(codes, codes)
        if len(_SHARED) > 50_000 or len(_SHARED_CODES) > 20_000:
            _SHARED.clear()
            _SHARED_CODES.clear()
    return IndexedResource(
        resource_type=rtype,
        fhir_id=resource["id"],
        patient_ref=ref,
        status=status,
        effective_start=start,
        effective_end=end,
        codes=codes,
        supported=supported,
        resource=resource,
    )


_SHARED: dict[str, str] = {}
_SHARED_CODES: dict[tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]] = {}
