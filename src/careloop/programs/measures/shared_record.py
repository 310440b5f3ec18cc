"""One patient's facts grouped and indexed once, seen by each program through its own filter.

A slice of the nightly cycle evaluates eight programs on one read of each patient's facts
(``records.projection.SharedFacts``). Each program used to get its own filtered list of those
facts and build a ``PatientRecord`` from it: grouping by type and indexing codes eight times
per patient, most of it for facts the program's filter then kept anyway. Here the grouping
and the code index are built once per patient (:class:`FactIndex`), and each program's record
(:class:`ProgramRecord`) selects from them with the program's filter as it reads.

Exact by construction: a program's record answers every question with what a
``PatientRecord`` built from the program's own filtered list answers, in the same order (that
list is the read order filtered; so is each answer here). A differential test compares the
two on every shipped program and the Synthea patients.
"""

from __future__ import annotations

from datetime import date
from typing import Any, cast

from careloop.programs.measures.record import (
    CODE_PATHS,
    CodeIndex,
    Derived,
    PatientRecord,
    Resource,
    index_of,
)
from careloop.programs.measures.timing import parse_date
from careloop.programs.measures.valuesets import CodeSet
from careloop.records.extract import SUPPORTED_TYPES
from careloop.records.fact_columns import FactRow, parse_pairs
from careloop.records.projection import FactRows, selects

# Types whose retrieves cannot use the shared index: a MedicationRequest's codes may come
# from a Medication it references, found among the program's own facts; ObservationNotDone
# is a filter of Observation (retrieved through it).
_OWN_INDEX = frozenset({"MedicationRequest", "ObservationNotDone"})


class FactIndex:
    """A patient's fact rows by type (the first Patient apart), with a code index per type
    built on first use from the rows' code pairs (``resource_facts.code_pairs``); shared by
    every program's record of the patient for one read. A fact is decoded only when a
    record returns it (a retrieve's hit, a whole type, a reference)."""

    __slots__ = ("_index", "_person", "by_type", "patient", "rows")

    def __init__(self, rows: FactRows) -> None:
        by_type: dict[str, list[FactRow]] = {}
        patient: FactRow | None = None
        for row in rows:
            # The row's type is its fact's ``resourceType`` (both are the resource's).
            if row.rtype == "Patient" and patient is None:
                patient = row
                continue
            found = by_type.get(row.rtype)
            if found is None:
                found = by_type[row.rtype] = []
            found.append(row)
        self.rows = rows
        self.patient = patient
        self.by_type = by_type
        self._index: dict[str, CodeIndex] = {}
        self._person: tuple[Resource, str, Any, date | None] | None = None

    def person(self) -> tuple[Resource, str, Any, date | None]:
        """The patient's fact, id, gender and birth date, as a record reads them (parsed
        once per patient, not once per program)."""
        if self._person is None:
            fact = self.patient.fact if self.patient is not None else {}
            self._person = (
                fact,
                str(fact.get("id", "")),
                fact.get("gender"),
                parse_date(fact.get("birthDate")),
            )
        return self._person

    def code_index(self, rtype: str) -> CodeIndex:
        """(system, code) pair -> positions in ``by_type[rtype]``, built once per patient and
        type for every program from the rows' pairs (no fact decoded for it)."""
        index = self._index.get(rtype)
        if index is None:
            path = CODE_PATHS.get(rtype, "code")
            rows = self.by_type.get(rtype, ())
            # ``index_of(row.pairs(path) for row in rows)`` without a call per row for the
            # rows whose pairs are in their column (all but facts not backfilled yet).
            index = self._index[rtype] = index_of(
                parse_pairs(row.pairs_text) if row.pairs_text is not None else row.pairs(path)
                for row in rows
            )
        return index


def fact_index(rows: FactRows, derived: Derived) -> FactIndex:
    """The patient's :class:`FactIndex` for these rows, kept with the shared derivations
    (dropped with them whenever the patient's facts are written)."""
    held: Any = rows  # the entry holds the rows, so their id cannot be reused meanwhile
    key = (id(rows), "fact-index")
    entry = derived.get(key)
    if entry is not None and entry[0] is held:
        return cast(FactIndex, entry[1])
    index = FactIndex(rows)
    derived[key] = (held, index)
    return index


class ProgramRecord(PatientRecord):
    """One program's record of a patient: the facts its filter (``always`` types, wanted
    ``codes``) selects from a shared :class:`FactIndex`, selected as they are read."""

    __slots__ = ("_always", "_codes", "_facts")

    def __init__(
        self,
        facts: FactIndex,
        *,
        always: frozenset[str],
        codes: frozenset[str],
        derived: Derived,
    ) -> None:
        self._facts = facts
        self._always = always
        self._codes = codes
        if facts.patient is not None and not self._selected(facts.patient):
            # The first Patient fact is the record's patient only if the filter keeps it.
            raise ValueError("a shared record needs the patient's own fact selected")
        self.patient, self.patient_id, self.gender, self.birth_date = facts.person()
        self._by_type: dict[str, list[Resource]] = {}
        self._index = {}
        self._by_id = None
        self.derived = derived

    def _selected(self, row: FactRow) -> bool:
        return selects(row.rtype, row.codes, always=self._always, codes=self._codes)

    def _whole(self, rtype: str) -> bool:
        """Whether the filter selects every row of ``rtype`` (``selects`` looks at a row's
        codes only for an indexed type not always read): no test per row then."""
        return rtype in self._always or rtype not in SUPPORTED_TYPES

    def of_type(self, rtype: str) -> list[Resource]:
        found = self._by_type.get(rtype)
        if found is not None:
            return found
        entries = self._facts.by_type.get(rtype)
        if entries is None:
            return super().of_type(rtype)  # ObservationNotDone, or none of the type
        if self._whole(rtype):
            found = [row.fact for row in entries]
        else:
            found = [row.fact for row in entries if self._selected(row)]
        self._by_type[rtype] = found
        return found

    def retrieve(self, rtype: str, codes: CodeSet) -> list[Resource]:
        if rtype in _OWN_INDEX:
            return super().retrieve(rtype, codes)
        keys, positions = self._facts.code_index(rtype)
        hits = codes & keys
        if not hits:
            return []
        entries = self._facts.by_type[rtype]
        if len(hits) == 1:
            chosen: list[int] = positions[next(iter(hits))]
        else:
            chosen = sorted({i for pair in hits for i in positions[pair]})
        if self._whole(rtype):
            return [entries[i].fact for i in chosen]
        selected = self._selected
        return [entries[i].fact for i in chosen if selected(entries[i])]

    def candidate_rows(self, rtype: str, codes: CodeSet) -> list[FactRow] | None:
        """The rows :meth:`retrieve` (``codes``) or :meth:`of_type` return the facts of
        (shared with the index when the filter selects the whole type: not to be changed)."""
        if rtype in _OWN_INDEX:
            return None
        entries = self._facts.by_type.get(rtype)
        if entries is None:
            return []  # none of the type (ObservationNotDone is in _OWN_INDEX)
        if not codes:
            if self._whole(rtype):
                return entries
            return [row for row in entries if self._selected(row)]
        keys, positions = self._facts.code_index(rtype)
        if codes.isdisjoint(keys):  # most retrieves of most patients: no set made
            return []
        hits = codes & keys
        if len(hits) == 1:
            chosen: list[int] = positions[next(iter(hits))]
        else:
            chosen = sorted({i for pair in hits for i in positions[pair]})
        if self._whole(rtype):
            return [entries[i] for i in chosen]
        selected = self._selected
        return [entries[i] for i in chosen if selected(entries[i])]

    def by_reference(self, reference: str) -> Resource | None:
        if self._by_id is None:
            # PatientRecord's map, built from the program's facts in read order by type.
            by_type: dict[str, list[Resource]] = {}
            first_patient = self._facts.patient
            for row in self._facts.rows:
                if row is first_patient:
                    continue
                if self._selected(row):
                    by_type.setdefault(row.rtype, []).append(row.fact)
            self._by_id = {}
            for rtype, resources in by_type.items():
                for resource in resources:
                    if "id" in resource:
                        self._by_id[f"{rtype}/{resource['id']}"] = resource
                        self._by_id.setdefault(str(resource["id"]), resource)
        return super().by_reference(reference)
