"""One patient's FHIR resources, indexed once for fast retrieval by type and code.

The index by code is built lazily per resource type: the official logic stops at the initial
population for most patients, so most types are never indexed at all.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

from careloop.fhirdata.codings import codings as fhir_codings
from careloop.programs.measures.timing import parse_date
from careloop.programs.measures.valuesets import CodeSet

# Where a retrieve such as [Encounter: "Office Visit"] looks for the code (QI-Core primary
# code paths); everything else uses ``code``.
CODE_PATHS = {
    "Encounter": "type",
    "MedicationRequest": "medicationCodeableConcept",
    "DeviceRequest": "codeCodeableConcept",
    "Immunization": "vaccineCode",
}
NOT_DONE_REASON = "http://hl7.org/fhir/us/qicore/StructureDefinition/qicore-notDoneReason"
Resource = dict[str, Any]


def codings(concept: Any) -> Iterator[tuple[str, str]]:
    """The (system, code) pairs of a CodeableConcept (or a list of them) that name a system."""
    return ((system, code) for system, code in fhir_codings(concept) if system and code)


def concept_in(concept: Any, codes: CodeSet) -> bool:
    return any(pair in codes for pair in codings(concept))


def is_not_done(resource: Resource) -> bool:
    """QI-Core ObservationNotDone: a cancelled Observation carrying a reason it was not done."""
    if resource.get("status") == "cancelled":
        return True
    return any(ext.get("url") == NOT_DONE_REASON for ext in resource.get("extension", ()))


class PatientRecord:
    """The resources of one patient: the Patient itself plus clinical resources by type."""

    __slots__ = ("_by_id", "_by_type", "_index", "birth_date", "gender", "patient", "patient_id")

    def __init__(self, resources: list[Resource]) -> None:
        by_type: dict[str, list[Resource]] = {}
        patient: Resource | None = None
        for resource in resources:
            rtype = resource.get("resourceType")
            if rtype == "Patient" and patient is None:
                patient = resource
                continue
            found = by_type.get(rtype)  # type: ignore[arg-type]
            if found is None:
                if not isinstance(rtype, str):
                    continue
                found = by_type[rtype] = []
            found.append(resource)
        self.patient: Resource = patient or {}
        self.patient_id: str = str(self.patient.get("id", ""))
        self.gender: str | None = self.patient.get("gender")
        self.birth_date: date | None = parse_date(self.patient.get("birthDate"))
        self._by_type = by_type
        self._index: dict[str, tuple[frozenset[tuple[str, str]], dict[Any, list[int]]]] = {}
        self._by_id: dict[str, Resource] | None = None

    def of_type(self, rtype: str) -> list[Resource]:
        found = self._by_type.get(rtype)
        if found is None:
            if rtype == "ObservationNotDone":
                found = [r for r in self.of_type("Observation") if is_not_done(r)]
                self._by_type[rtype] = found
                return found
            return []
        return found

    def codes_of(self, rtype: str, resource: Resource) -> Iterator[tuple[str, str]]:
        if rtype == "MedicationRequest" and "medicationCodeableConcept" not in resource:
            medication = self._medication(resource)
            return codings(medication.get("code")) if medication else iter(())
        return codings(resource.get(CODE_PATHS.get(rtype, "code")))

    def _medication(self, request: Resource) -> Resource | None:
        reference = (request.get("medicationReference") or {}).get("reference", "")
        if reference.startswith("#"):
            for contained in request.get("contained", ()):
                if contained.get("id") == reference[1:]:
                    return dict(contained)
            return None
        return self.by_reference(reference)

    def _code_index(self, rtype: str) -> tuple[frozenset[tuple[str, str]], dict[Any, list[int]]]:
        index = self._index.get(rtype)
        if index is None:
            positions: dict[Any, list[int]] = {}
            path = "code" if rtype == "ObservationNotDone" else CODE_PATHS.get(rtype, "code")
            for position, resource in enumerate(self.of_type(rtype)):
                concept = resource.get(path)
                if concept is None or isinstance(concept, list) or rtype == "MedicationRequest":
                    pairs: Any = self.codes_of(rtype, resource)
                else:
                    pairs = [
                        (c["system"], c["code"])
                        for c in concept.get("coding", ())
                        if "system" in c and "code" in c
                    ]
                for pair in pairs:
                    slot = positions.get(pair)
                    if slot is None:
                        positions[pair] = [position]
                    elif slot[-1] != position:
                        slot.append(position)
            index = (frozenset(positions), positions)
            self._index[rtype] = index
        return index

    def retrieve(self, rtype: str, codes: CodeSet) -> list[Resource]:
        """[Type: "Value Set"]: the resources of a type with a code in ``codes``, record order."""
        if rtype == "ObservationNotDone":
            return [r for r in self.retrieve("Observation", codes) if is_not_done(r)]
        keys, positions = self._code_index(rtype)
        hits = codes & keys
        if not hits:
            return []
        resources = self.of_type(rtype)
        if len(hits) == 1:
            return [resources[i] for i in positions[next(iter(hits))]]
        chosen = sorted({i for pair in hits for i in positions[pair]})
        return [resources[i] for i in chosen]

    def by_reference(self, reference: str) -> Resource | None:
        """Resolve ``Type/id`` (or a bare id) within this patient's resources."""
        if self._by_id is None:
            self._by_id = {}
            for rtype, resources in self._by_type.items():
                for resource in resources:
                    if "id" in resource:
                        self._by_id[f"{rtype}/{resource['id']}"] = resource
                        self._by_id.setdefault(str(resource["id"]), resource)
        if reference.startswith("urn:uuid:"):
            reference = reference[len("urn:uuid:") :]
        found = self._by_id.get(reference)
        if found is None and "/" in reference:
            found = self._by_id.get(reference.rsplit("/", 1)[-1])
        return found
