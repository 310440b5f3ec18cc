"""One patient's FHIR resources, indexed once for fast retrieval by type and code.

The index by code is built lazily per resource type: the official logic stops at the initial
population for most patients, so most types are never indexed at all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import date
from typing import Any, TypeVar

from careloop.programs.measures.timing import parse_date
from careloop.programs.measures.valuesets import CodeSet
from careloop.records.fact_columns import CODE_PATHS as CODE_PATHS  # re-exported
from careloop.records.fact_columns import FactRow
from careloop.records.fact_columns import codings as codings  # re-exported
from careloop.records.fact_columns import pairs_at as _pairs

NOT_DONE_REASON = "http://hl7.org/fhir/us/qicore/StructureDefinition/qicore-notDoneReason"
Resource = dict[str, Any]
Derived = dict[tuple[int, str], tuple[Resource, Any]]
"""What was computed from a resource (its codes, its timing), by (id of resource, what)."""
_T = TypeVar("_T")


def concept_in(concept: Any, codes: CodeSet) -> bool:
    return any(pair in codes for pair in codings(concept))


def is_not_done(resource: Resource) -> bool:
    """QI-Core ObservationNotDone: a cancelled Observation carrying a reason it was not done."""
    if resource.get("status") == "cancelled":
        return True
    return any(ext.get("url") == NOT_DONE_REASON for ext in resource.get("extension", ()))


CodeIndex = tuple[frozenset[tuple[str, str]], dict[Any, list[int]]]
"""The code pairs of a type's resources, and for each pair the positions holding it."""


def index_of(pairs_per_resource: Iterable[Iterable[tuple[str, str]]]) -> CodeIndex:
    """Each pair's positions (ascending, once each) among resources given by their pairs."""
    positions: dict[Any, list[int]] = {}
    for position, pairs in enumerate(pairs_per_resource):
        for pair in pairs:
            slot = positions.get(pair)
            if slot is None:
                positions[pair] = [position]
            elif slot[-1] != position:
                slot.append(position)
    return frozenset(positions), positions


def code_index(resources: Iterable[Resource], path: str, derived: Derived) -> CodeIndex:
    """The index of the pairs at ``path``, each resource's pairs parsed once and shared
    through ``derived`` (``PatientRecord.derive``, inlined: this runs for every resource)."""
    what = f"codes:{path}"

    def pairs_of(resource: Resource) -> tuple[tuple[str, str], ...]:
        entry = derived.get((id(resource), what))
        if entry is not None and entry[0] is resource:
            found: tuple[tuple[str, str], ...] = entry[1]
            return found
        found = _pairs(resource.get(path))
        derived[(id(resource), what)] = (resource, found)
        return found

    return index_of(map(pairs_of, resources))


def derived_timing(
    record: PatientRecord,
    resource: Resource,
    what: str,
    extract: Callable[[Resource, date | None], Any],
) -> Any:
    """``record.derive(resource, what, lambda: extract(resource, record.birth_date))``
    without the closure and the method call: timing tests run this for every candidate."""
    key = (id(resource), what)
    entry = record.derived.get(key)
    if entry is not None and entry[0] is resource:
        return entry[1]
    found = extract(resource, record.birth_date)
    record.derived[key] = (resource, found)
    return found


class PatientRecord:
    """The resources of one patient: the Patient itself plus clinical resources by type."""

    __slots__ = (
        "_by_id", "_by_type", "_index", "birth_date", "derived", "gender", "patient", "patient_id",
    )  # fmt: skip

    def __init__(self, resources: list[Resource], *, derived: Derived | None = None) -> None:
        """``derived``: values computed from these resource dicts, shared with other records
        built from the same dicts (a night evaluates eight programs on one decoding of each
        patient's facts; their codes and timing are then parsed once, not once per program).
        """
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
        self._index: dict[str, CodeIndex] = {}
        self._by_id: dict[str, Resource] | None = None
        self.derived: Derived = derived if derived is not None else {}

    def derive(self, resource: Resource, what: str, compute: Callable[[], _T]) -> _T:
        """``compute()``, once per resource dict and ``what`` (a pure function of the
        resource and this patient's birth date). The entry holds the resource itself, so its
        id cannot be reused by another dict while the entry lives."""
        key = (id(resource), what)
        entry = self.derived.get(key)
        if entry is not None and entry[0] is resource:
            value: _T = entry[1]
            return value
        value = compute()
        self.derived[key] = (resource, value)
        return value

    def of_type(self, rtype: str) -> list[Resource]:
        found = self._by_type.get(rtype)
        if found is None:
            if rtype == "ObservationNotDone":
                found = [r for r in self.of_type("Observation") if is_not_done(r)]
                self._by_type[rtype] = found
                return found
            return []
        return found

    def candidate_rows(self, rtype: str, codes: CodeSet) -> list[FactRow] | None:
        """The fact rows ``retrieve`` (``codes``) or ``of_type`` (none) would return the facts
        of, undecoded; None when this record holds resources, not rows
        (``measures.shared_record.ProgramRecord`` holds rows)."""
        return None

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

    def _code_index(self, rtype: str) -> CodeIndex:
        index = self._index.get(rtype)
        if index is None:
            path = "code" if rtype == "ObservationNotDone" else CODE_PATHS.get(rtype, "code")
            resources = self.of_type(rtype)
            if rtype == "MedicationRequest":  # may resolve a reference: not cached
                index = index_of(self.codes_of(rtype, resource) for resource in resources)
            else:
                index = code_index(resources, path, self.derived)
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
