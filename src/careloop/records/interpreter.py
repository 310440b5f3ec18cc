"""The "interpreter needed" flag, read from the record's FHIR Patient resources.

A patient needs an interpreter when their preferred ``Patient.communication`` (or the
Patient itself) carries the ``patient-interpreterRequired`` extension with ``valueBoolean``
true. No column stores it: the Patient resources already do, and the latest import wins, so
an EHR that clears the flag clears it here too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from babel import Locale, UnknownLocaleError
from sqlalchemy import ColumnElement, cast, func, literal, select
from sqlalchemy.dialects.postgresql import JSONPATH
from sqlalchemy.orm import InstrumentedAttribute, Session

from careloop.db import any_of
from careloop.fhirdata.patients import preferred_communication, preferred_language
from careloop.models import FhirResource, Patient

INTERPRETER_EXTENSION = "http://hl7.org/fhir/StructureDefinition/patient-interpreterRequired"


@dataclass(frozen=True)
class InterpreterNeed:
    language: str  # the BCP-47 code from the record ("vi", "pt-BR")
    language_name: str  # in English, for staff ("Vietnamese")


def _required(element: Mapping[str, Any]) -> bool | None:
    for ext in element.get("extension") or []:
        if isinstance(ext, dict) and ext.get("url") == INTERPRETER_EXTENSION:
            value = ext.get("valueBoolean")
            return value if isinstance(value, bool) else None
    return None


def language_name(code: str) -> str:
    """The language's English name for staff ("es-MX" → "Spanish"); the code when unknown."""
    primary = code.replace("_", "-").split("-")[0].lower()
    try:
        return Locale("en").languages.get(primary) or code
    except (UnknownLocaleError, ValueError):
        return code


def interpreter_of(patient: dict[str, Any]) -> tuple[bool | None, str | None]:
    """(flag, language) of one Patient resource: the flag is None when it does not say."""
    chosen = preferred_communication(patient)
    language = preferred_language(patient)
    flag = _required(patient)
    if chosen is not None:
        on_language = _required(chosen)
        flag = on_language if on_language is not None else flag
    return flag, language


def interpreter_need(patients: list[dict[str, Any]]) -> InterpreterNeed | None:
    """The need from one person's Patient resources, oldest first (later ones win)."""
    flag: bool | None = None
    language: str | None = None
    for patient in patients:
        this_flag, this_language = interpreter_of(patient)
        flag = this_flag if this_flag is not None else flag
        language = this_language or language
    if not flag or not language:
        return None
    return InterpreterNeed(language=language, language_name=language_name(language))


def interpreter_for(session: Session, *, patient_id: str) -> InterpreterNeed | None:
    """The patient's interpreter need from their stored Patient resources, or None."""
    resources = session.scalars(
        select(FhirResource.resource)
        .where(FhirResource.resource_type == "Patient", FhirResource.patient_id == patient_id)
        .order_by(FhirResource.imported_at)
    )
    return interpreter_need(list(resources))


# The Patient's own extensions that can say it (its others, race, ethnicity, birthplace
# and the like, are most of a Synthea Patient), as a JSON path.
_FLAG_EXTENSIONS = f'$.extension[*] ? (@.url == "{INTERPRETER_EXTENSION}")'


def _interpreter_parts(session: Session) -> ColumnElement[Any] | InstrumentedAttribute[Any]:
    """What :func:`interpreter_of` reads of a Patient, cut out by PostgreSQL: the flag's
    extensions and ``communication`` (a night asks this of every patient it would call;
    the whole Patient was ~23x as much JSON to decode). The extensions keep their order,
    a part the resource lacks comes back empty or null, and every reader takes those as
    absent, so the need is the same. SQLite: the whole resource."""
    if session.get_bind().dialect.name != "postgresql":
        return FhirResource.resource
    resource = FhirResource.resource
    flags = func.jsonb_path_query_array(resource, cast(literal(_FLAG_EXTENSIONS), JSONPATH))
    return func.jsonb_build_object(
        "extension", flags, "communication", resource["communication"], type_=resource.type
    )


def interpreter_needs(
    session: Session, *, patient_ids: list[str]
) -> dict[str, InterpreterNeed | None]:
    """:func:`interpreter_for` for many patients in one query (a tick's voice decisions)."""
    found: dict[str, list[dict[str, Any]]] = {pid: [] for pid in patient_ids}
    parts = _interpreter_parts(session)
    for start in range(0, len(patient_ids), 1000):
        rows = session.execute(
            select(FhirResource.patient_id, parts)
            .where(
                FhirResource.resource_type == "Patient",
                any_of(session, FhirResource.patient_id, patient_ids[start : start + 1000]),
            )
            .order_by(FhirResource.imported_at)
        )
        for pid, resource in rows:
            found[str(pid)].append(resource)
    return {pid: interpreter_need(resources) for pid, resources in found.items()}


@dataclass(frozen=True)
class CallLanguage:
    """The language a person calling the patient must speak, for a call task."""

    language: str  # BCP-47, as the record has it ("es", "pt-BR")
    language_name: str  # in English, for staff ("Spanish")
    interpreter_needed: bool

    def in_words(self) -> str:
        """``Speaks Spanish (es): interpreter needed.``, as the task's summary says it."""
        need = ": interpreter needed" if self.interpreter_needed else ""
        return f"Speaks {self.language_name} ({self.language}){need}."

    def values(self) -> dict[str, object]:
        return {
            "language": self.language,
            "language_name": self.language_name,
            "interpreter_needed": self.interpreter_needed,
        }


def _primary(code: str) -> str:
    return code.replace("_", "-").split("-")[0].lower()


def _spoken(need: InterpreterNeed | None, own: str | None, clinic_language: str) -> CallLanguage:
    language = (need.language if need else None) or own or clinic_language
    needed = need is not None or _primary(language) != _primary(clinic_language)
    return CallLanguage(language, language_name(language), needed)


def call_language(session: Session, *, patient_id: str, clinic_language: str) -> CallLanguage:
    """Who can call the patient: their language (the record's interpreter language, else the
    patient's, else the clinic's), and whether an interpreter is needed (the record says so,
    or the language is not the clinic's)."""
    return call_languages(session, patient_ids=[patient_id], clinic_language=clinic_language)[
        patient_id
    ]


def call_languages(
    session: Session, *, patient_ids: list[str], clinic_language: str
) -> dict[str, CallLanguage]:
    """:func:`call_language` for many patients in two queries (a tick's call tasks)."""
    if not patient_ids:
        return {}
    needs = interpreter_needs(session, patient_ids=patient_ids)
    own: dict[str, str | None] = dict.fromkeys(patient_ids)
    for start in range(0, len(patient_ids), 1000):
        chunk = patient_ids[start : start + 1000]
        rows = session.execute(
            select(Patient.id, Patient.language).where(any_of(session, Patient.id, chunk))
        )
        own.update({str(pid): language for pid, language in rows})
    return {pid: _spoken(needs.get(pid), own[pid], clinic_language) for pid in patient_ids}
