"""Is the patient on active systemic anticancer therapy? Derived from the record.

Febrile neutropenia rules apply only to patients on myelosuppressive therapy (ASCO/IDSA
2018). careloop derives that from three kinds of FHIR resources in the patient's record:

- a MedicationAdministration of an antineoplastic agent given in the last
  ``THERAPY_WINDOW`` days (the neutrophil nadir follows a dose by 7-14 days and a cycle
  lasts 14-28 days);
- a MedicationRequest of one that is ``active``, or was authored in that window;
- a Procedure of chemotherapy (SNOMED CT or CPT 96401-96549) performed in that window.

Agents come from ``data/antineoplastic_agents.csv`` (WHO ATC L01 with RxNorm ingredient
codes) and ``data/antineoplastic_rxnorm_drugs.csv`` (RxNorm clinical drug codes of those
agents, for resources coded by drug code alone): a medication matches by RxNorm code, by an
ATC code under L01, or by the ingredient name in its text (RxNorm clinical drugs name their
ingredient). Enrollment in the oncology
check-in program is *not* used: that enrollment is itself derived from these procedures
and is outreach's, so reading it here would add nothing but a dependency.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from importlib import resources
from typing import Any

from careloop.errors import InvalidInput
from careloop.feedback.timestamps import parse_instant

THERAPY_WINDOW = timedelta(days=30)
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
ATC = "http://www.whocc.no/atc"
THERAPY_TYPES = ("MedicationRequest", "MedicationAdministration", "Procedure")


@dataclass(frozen=True)
class Agents:
    rxcuis: frozenset[str]
    names: tuple[str, ...]


def _rows(name: str) -> list[dict[str, str]]:
    text = (resources.files("careloop.feedback") / "data" / name).read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if not line.startswith("#")]
    return list(csv.DictReader(io.StringIO("\n".join(lines))))


@lru_cache(maxsize=1)
def agents() -> Agents:
    rows = _rows("antineoplastic_agents.csv")
    drugs = _rows("antineoplastic_rxnorm_drugs.csv")  # clinical drugs (SCD) coded alone
    return Agents(
        rxcuis=frozenset(r["rxcui"] for r in [*rows, *drugs] if r["rxcui"]),
        names=tuple(r["ingredient"].lower() for r in rows),
    )


@lru_cache(maxsize=1)
def _procedure_codes() -> tuple[tuple[str, int, int], ...]:
    return tuple(
        (r["system"], int(r["code_from"]), int(r["code_to"]))
        for r in _rows("chemotherapy_procedures.csv")
    )


def _codings(concept: Any) -> list[dict[str, Any]]:
    if not isinstance(concept, dict):
        return []
    return [c for c in concept.get("coding") or [] if isinstance(c, dict)]


def is_antineoplastic(concept: Any) -> bool:
    """A medication concept naming an antineoplastic agent (by code, ATC class or name)."""
    known = agents()
    texts = [str(concept.get("text") or "")] if isinstance(concept, dict) else []
    for coding in _codings(concept):
        code = str(coding.get("code") or "")
        if coding.get("system") == RXNORM and code in known.rxcuis:
            return True
        if coding.get("system") == ATC and code.startswith("L01"):
            return True
        texts.append(str(coding.get("display") or ""))
    words = " ".join(texts).lower()
    return any(name in words for name in known.names)


def is_chemotherapy_procedure(concept: Any) -> bool:
    for coding in _codings(concept):
        code = str(coding.get("code") or "")
        for system, low, high in _procedure_codes():
            if coding.get("system") == system and code.isdigit() and low <= int(code) <= high:
                return True
    return False


def _when(resource: dict[str, Any], *fields: str) -> datetime | None:
    for name in fields:
        value = resource.get(name)
        if isinstance(value, dict):
            value = value.get("end") or value.get("start")
        if isinstance(value, str):
            try:
                return parse_instant(value if "T" in value else f"{value}T00:00:00Z", field=name)
            except InvalidInput:
                continue
    return None


def _evidence(resource: dict[str, Any], now: datetime) -> str | None:
    rtype = resource.get("resourceType")
    since = now - THERAPY_WINDOW
    ref = f"{rtype}/{resource.get('id')}"
    if rtype in ("MedicationRequest", "MedicationAdministration"):
        if not is_antineoplastic(resource.get("medicationCodeableConcept")):
            return None
        status = resource.get("status")
        if status in ("entered-in-error", "cancelled", "not-done", "stopped", "revoked"):
            return None
        if rtype == "MedicationRequest":
            authored = _when(resource, "authoredOn")
            recent = authored is not None and since <= authored <= now
            return ref if status == "active" or recent else None
        given = _when(resource, "effectiveDateTime", "effectivePeriod")
        return ref if given is not None and since <= given <= now else None
    if rtype == "Procedure" and is_chemotherapy_procedure(resource.get("code")):
        if resource.get("status") not in ("completed", "in-progress"):
            return None
        done = _when(resource, "performedDateTime", "performedPeriod")
        return ref if done is not None and since <= done <= now else None
    return None


def active_therapy(resources_: Iterable[dict[str, Any]], *, now: datetime) -> tuple[str, ...]:
    """The resources that show active systemic therapy at ``now`` (empty: not on therapy)."""
    found = [_evidence(r, now) for r in resources_ if isinstance(r, dict)]
    return tuple(sorted({f for f in found if f is not None}))
