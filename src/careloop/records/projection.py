"""The identification projection (``resource_facts``): what measures read, written at import.

Identification used to decode every stored resource of every patient, each night; at a
million patients that alone took an hour. The one resource writer (``records.store``) now
also writes, per resource about a patient, its *fact*: the resource in FHIR shape without the
fields no measure or program reads (narrative, identifiers, references to people and places,
attachments), plus its bare codes in a column the database filters on. The measure engine is
unchanged: it reads a fact exactly as it read the resource, so results cannot drift (a
differential test checks every shared eCQM test case and the Synthea patients).

Administrative bulk (claims, provenance, documents, images) gets no fact at all. A caller that
needs one of those types, or whole resources (published ELM logic may read any field), keeps
reading ``records.service.load_patient_resources``.
"""

from __future__ import annotations

import weakref
from collections.abc import Collection, Iterable, Iterator, Sequence
from functools import lru_cache
from typing import Any

import orjson
from sqlalchemy import Select, event, select, update
from sqlalchemy.orm import Session, SessionTransaction

from careloop.models import FhirResource, Patient, ResourceFact
from careloop.records.extract import SUPPORTED_TYPES, IndexedResource
from careloop.records.fact_columns import COLUMNS_VERSION, FactRow, computed_columns
from careloop.records.fact_queries import (
    FACT_TEXT,
    code_filter,
    custom_plans,
    epoch,
    filter_params,
    patient_in_chunk,
    text_array,
)
from careloop.records.facts_collector import SessionFactsCollector
from careloop.records.projection_defer import (
    TALLY,
    DeferredFactRow,
    TalliedFactRow,
    deferred_params,
    fact_column,
)
from careloop.records.service import load_patient_resources

# Top-level fields no measure, program or segment reads (checked by the differential test).
DROPPED_FIELDS = (
    "text", "identifier", "subject", "patient", "beneficiary", "participant", "performer",
    "serviceProvider", "requester", "recorder", "asserter", "presentedForm", "note",
    "careTeam", "result", "reasonReference", "location", "generalPractitioner",
    "managingOrganization",
)  # fmt: skip
# A Patient's fact keeps gender, birth date, death and extensions; never name or contacts.
PATIENT_DROPPED = (
    "name", "telecom", "address", "photo", "contact", "maritalStatus", "communication",
    "link", "multipleBirthBoolean", "multipleBirthInteger",
)  # fmt: skip
# Types that get no fact: administrative bulk no measure retrieves.
SKIPPED_TYPES = frozenset(
    {
        "Claim", "ExplanationOfBenefit", "Provenance", "DocumentReference", "ImagingStudy",
        "Media", "Binary", "Organization", "Practitioner", "PractitionerRole", "Location",
    }
)  # fmt: skip
_DROP = frozenset(DROPPED_FIELDS)
_DROP_PATIENT = _DROP | frozenset(PATIENT_DROPPED)


def has_fact(resource_type: str, patient_ref: str | None) -> bool:
    """Whether a resource gets a fact: about a patient, and not administrative bulk."""
    return patient_ref is not None and resource_type not in SKIPPED_TYPES


def fact_of(resource: dict[str, Any]) -> dict[str, Any]:
    """The resource without the fields identification never reads."""
    drop = _DROP_PATIENT if resource.get("resourceType") == "Patient" else _DROP
    return {key: value for key, value in resource.items() if key not in drop}


def fact_rows(
    resources: Sequence[IndexedResource], owners: Sequence[str | None]
) -> list[dict[str, Any]]:
    """``resource_facts`` rows for the resources that get one (same order as given)."""
    return [
        {
            "resource_type": res.resource_type,
            "fhir_id": res.fhir_id,
            "patient_id": owner,
            "codes": " ".join(dict.fromkeys(code[:128] for _, code in res.codes)),
            "fact": fact_of(res.resource),
            "status": res.status,
            "start_at": res.effective_start,
            "end_at": res.effective_end,
            **computed_columns(res.resource),
            "columns_version": COLUMNS_VERSION,
        }
        for res, owner in zip(resources, owners, strict=True)
        if has_fact(res.resource_type, res.patient_ref)
    ]


def attach_dangling_facts(session: Session) -> None:
    """Give facts written before their Patient arrived the owner their resource now has."""
    forget_shared_facts(session, None)
    owner = (
        select(FhirResource.patient_id)
        .where(
            FhirResource.resource_type == ResourceFact.resource_type,
            FhirResource.fhir_id == ResourceFact.fhir_id,
        )
        .scalar_subquery()
    )
    session.execute(
        update(ResourceFact)
        .where(ResourceFact.patient_id.is_(None))
        .values(patient_id=owner)
        .execution_options(synchronize_session=False)
    )


def load_patient_facts(
    session: Session,
    *,
    patient_ids: list[str] | None = None,
    batch: int = 500,
    only_codes: Collection[str],
    always_types: Sequence[str] = ("Patient",),
) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """Each patient's facts, a batch of patients per query: same contract and filter as
    ``records.service.load_patient_resources(only_codes=...)`` (resources of
    ``always_types`` or of unindexed types, or carrying one of ``only_codes``).

    On PostgreSQL the code filter is an array overlap evaluated on the fact row itself (no
    join, no per-row subquery); on SQLite, the default for small installs, it runs here.
    """
    if any(rtype in SKIPPED_TYPES for rtype in always_types):
        raise ValueError(f"no facts are kept for {sorted(SKIPPED_TYPES & set(always_types))}")
    ids = patient_ids if patient_ids is not None else _all_patient_ids(session)
    codes = frozenset(only_codes)
    always = frozenset(always_types)
    shared: SharedFacts | None = session.info.get(_SHARED_FACTS)
    if shared is not None and shared.covers(always=always, codes=codes):
        yield from shared.facts(session, ids, batch=batch, always=always, codes=codes)
        return
    postgres = custom_plans(session)
    query = select(
        ResourceFact.patient_id, ResourceFact.resource_type, FACT_TEXT, ResourceFact.codes
    ).where(patient_in_chunk(postgres=postgres))
    params: dict[str, Any] = {}
    if postgres:
        query = query.where(code_filter())
        params = filter_params(always, codes)
    for start in range(0, len(ids), batch):
        chunk = ids[start : start + batch]
        grouped: dict[str, list[dict[str, Any]]] = {pid: [] for pid in chunk}
        rows = session.execute(query, {**params, "chunk": text_array(chunk) if postgres else chunk})
        for pid, rtype, fact, row_codes in rows:
            if postgres or _wanted(rtype, row_codes, always=always, codes_wanted=codes):
                grouped[pid].append(orjson.loads(fact))
        yield from grouped.items()


_SHARED_FACTS = "careloop.records.shared_facts"
_WRITTEN = "careloop.records.facts_written"
FactRows = list[FactRow]
"""A patient's fact rows in read order (type, bare codes, code pairs; the fact on first use)."""
# A written resource: (type, FHIR id, owner); None for "anything may have changed".
Written = Iterable[tuple[str, str, str | None]] | None


class SharedFacts:
    """Every fact of a patient decoded once, filtered per caller here.

    Eight programs evaluated in one scheduler pass each read the same patients' facts with
    their own codes; decoding the JSON again for each was most of the demo pilot's time. The
    rows are held for the session that asked (:func:`share_facts`), or for a whole run that
    kept them (:func:`keep_facts`), and a patient's rows are dropped whenever the one fact
    writer writes about them (:func:`forget_shared_facts`), so a caller never sees a stale
    fact. The dicts are shared between callers: the measure engine only reads them.
    """

    def __init__(
        self,
        *,
        codes: Collection[str] | None = None,
        always: Collection[str] = (),
        defer: bool = False,
    ) -> None:
        # Given ``codes``: only the facts some caller with these codes (and always-read
        # types) selects are read (the night's programs'); a caller wanting more reads alone.
        self._codes = None if codes is None else frozenset(codes)
        self._always = frozenset(always)
        # ``defer``: facts of the types this process seldom decodes are fetched only when
        # decoded (``records.projection_defer``); for a session's own facts, not kept ones.
        self._defer = defer
        self._rows: dict[str, FactRows] = {}
        # Per patient: what records built on these rows computed (``PatientRecord.derived``).
        self._derived: dict[str, dict[Any, Any]] = {}
        self._owner: dict[tuple[str, str], str] = {}  # (type, FHIR id) -> patient cached
        self._unowned: list[Sequence[Any]] = []  # batches not in ``_owner`` yet (``_own``)
        self._params: dict[str, Any] | None = None  # the code filter's, sorted once
        # Per caller's filter (always-types, codes): each patient's facts it selects.
        self._selected: dict[tuple[frozenset[str], frozenset[str]], dict[str, list[Any]]] = {}

    def facts(
        self,
        session: Session,
        ids: list[str],
        *,
        batch: int,
        always: frozenset[str],
        codes: frozenset[str],
    ) -> Iterator[tuple[str, list[dict[str, Any]]]]:
        self._load(session, ids, batch=batch)
        selected = self._selected.setdefault((always, codes), {})
        for pid in ids:
            facts = selected.get(pid)
            if facts is None:
                facts = selected[pid] = [
                    row.fact
                    for row in self._rows[pid]
                    if selects(row.rtype, row.codes, always=always, codes=codes)
                ]
            yield pid, list(facts)

    def rows(
        self, session: Session, ids: list[str], *, batch: int
    ) -> Iterator[tuple[str, FactRows]]:
        """Each patient's rows as read (:class:`FactRow`), unfiltered: for a caller
        that selects its own facts from them (``programs.measures.shared_record``)."""
        for start in range(0, len(ids), batch):
            chunk = ids[start : start + batch]
            self._load(session, chunk, batch=batch)
            for pid in chunk:
                yield pid, self._rows[pid]

    def _load(self, session: Session, ids: list[str], *, batch: int) -> None:
        """Read the rows of the patients in ``ids`` not read yet (their facts are decoded
        when first used).

        The rows come through the session's connection as Core rows: the ORM's per-row work
        cost a quarter of this read's CPU, and ``resource_facts`` is written in Core only."""
        missing = [pid for pid in ids if pid not in self._rows]
        if not missing:
            return
        postgres = custom_plans(session)
        deferring = self._defer and postgres
        filtered = self._codes is not None and postgres
        query = _fact_read(postgres=postgres, deferring=deferring, filtered=filtered)
        if filtered and self._params is None:
            self._params = filter_params(self._always, self._codes or frozenset())
        params: dict[str, Any] = dict(self._params or {}) if filtered else {}
        if deferring:
            params.update(deferred_params())
        learning = deferring and TALLY.learning
        connection = session.connection()
        kept = self._rows
        for start in range(0, len(missing), batch):
            chunk = missing[start : start + batch]
            for pid in chunk:
                kept[pid] = []
            code_sets: dict[str, frozenset[str]] = {}  # one per codes text, shared by its rows
            read: dict[str, int] = {}  # rows of each type read without their fact
            with _collector.holding(session):  # the rows fetched at once, then kept
                params["chunk"] = text_array(chunk) if postgres else chunk  # one text, not a list
                rows = connection.execute(query, params).tuples().all()
                for pid, rtype, fhir_id, row_codes, pairs, fact, status, at, until, version in rows:
                    if not postgres:  # SQLite: the code filter, and datetimes as seconds
                        if not self._keeps(rtype, row_codes, filtered=False):
                            continue
                        at = at.timestamp() if at is not None else None
                        until = until.timestamp() if until is not None else None
                    bare = code_sets.get(row_codes)
                    if bare is None:
                        bare = code_sets[row_codes] = frozenset(row_codes.split())
                    timed = version is not None
                    if fact is None:  # a deferred type's: fetched if ever decoded
                        read[rtype] = read.get(rtype, 0) + 1
                        deferred = DeferredFactRow(
                            rtype, bare, pairs, fhir_id, status, at, until, timed
                        )
                        deferred.connection = connection
                        row: FactRow = deferred
                    elif learning:
                        read[rtype] = read.get(rtype, 0) + 1
                        row = TalliedFactRow(rtype, bare, pairs, fact, status, at, until, timed)
                    else:
                        row = FactRow(rtype, bare, pairs, fact, status, at, until, timed)
                    kept[pid].append(row)
                self._unowned.append(rows)
            for rtype, count in read.items():
                TALLY.read[rtype] = TALLY.read.get(rtype, 0) + count

    def _own(self) -> None:
        """Fold the batches read since into ``_owner``, in read order, when a write about
        one resource asks (a night writes none: a pair per row read was ~2 % of its CPU)."""
        owner = self._owner
        for rows in self._unowned:
            for pid, rtype, fhir_id, row_codes, *_ in rows:
                if pid in self._rows and self._keeps(rtype, row_codes, filtered=False):
                    owner[(rtype, fhir_id)] = pid
        self._unowned.clear()

    def derived(self, pid: str) -> dict[Any, Any] | None:
        """The values computed from this patient's facts, shared by every caller's record
        while the rows are held (None when the patient's facts were not read here)."""
        if pid not in self._rows:
            return None
        return self._derived.setdefault(pid, {})

    def _keeps(self, rtype: str, row_codes: str, *, filtered: bool) -> bool:
        """Whether a row read belongs to the rows kept (SQLite: the code filter runs here)."""
        if self._codes is None or filtered:
            return True
        return _wanted(rtype, row_codes, always=self._always, codes_wanted=self._codes)

    def covers(self, *, always: frozenset[str], codes: frozenset[str]) -> bool:
        """Whether every fact a caller with this filter selects is among the rows read."""
        if self._codes is None:
            return True
        return always <= self._always and codes <= self._codes

    def forget(self, written: Written) -> None:
        """Drop the patients ``written`` was about, before and after (None: everyone)."""
        if written is None:
            self._rows.clear()
            self._derived.clear()
            self._owner.clear()
            self._unowned.clear()
            self._selected.clear()
            return
        self._own()
        for rtype, fhir_id, owner in written:
            previous = self._owner.pop((rtype, fhir_id), None)
            for pid in (owner, previous):
                if pid is not None:
                    self._rows.pop(pid, None)
                    self._derived.pop(pid, None)
                    for selected in self._selected.values():
                        selected.pop(pid, None)


@lru_cache(maxsize=8)
def _fact_read(*, postgres: bool, deferring: bool, filtered: bool) -> Select[Any]:
    """The fact read's statement, built once (per batch, its SQLAlchemy cache key too)."""
    facts = ResourceFact.__table__.c
    query = select(
        facts.patient_id, facts.resource_type, facts.fhir_id, facts.codes,
        facts.code_pairs, fact_column(deferring), facts.status,
        epoch(facts.start_at, postgres=postgres), epoch(facts.end_at, postgres=postgres),
        facts.columns_version,
    ).where(patient_in_chunk(postgres=postgres))  # fmt: skip
    return query.where(code_filter()) if filtered else query


_collector = SessionFactsCollector()
_KEPT: weakref.WeakSet[SharedFacts] = weakref.WeakSet()


def share_facts(session: Session, facts: SharedFacts | None = None) -> None:
    """Let every identification in ``session`` share one decoding of each patient's facts.

    For a unit of work that evaluates many programs: the demo's pilot (every fact of a small
    population), a slice of ``careloop nightly`` (facts of the union of its programs' codes,
    ``SharedFacts(codes=...)``, held for that slice's transaction only).
    ``facts``: rows kept from earlier sessions (:func:`keep_facts`) instead of a fresh set.
    """
    session.info[_SHARED_FACTS] = facts if facts is not None else SharedFacts()


def shared_derived(session: Session, pid: str) -> dict[Any, Any] | None:
    """What records of this patient computed from the facts ``session`` shares, if any."""
    shared: SharedFacts | None = session.info.get(_SHARED_FACTS)
    return shared.derived(pid) if shared is not None else None


def keep_facts() -> SharedFacts:
    """Facts kept across sessions for a run whose writers are all in this process.

    The demo's pilot decodes each patient once and keeps the rows for its whole run: any
    session of the process that writes a fact drops that patient at the write and again when
    its transaction ends. Sessions must not overlap (the pilot runs one at a time); a writer
    in another process would not be seen, so a server never keeps facts.
    """
    facts = SharedFacts()
    _KEPT.add(facts)
    return facts


def forget_shared_facts(session: Session, written: Written) -> None:
    """Facts are being written: decode those patients again on their next read.

    ``written``: the (type, FHIR id, owner) of each resource, or None when any may change."""
    written = None if written is None else list(written)
    shared: SharedFacts | None = session.info.get(_SHARED_FACTS)
    if shared is not None:
        shared.forget(written)
    if not _KEPT:
        return
    for kept in list(_KEPT):
        kept.forget(written)
    pending: list[Written] = session.info.setdefault(_WRITTEN, [])
    pending.append(written)


@event.listens_for(Session, "after_transaction_end")
def _release_at_transaction_end(session: Session, transaction: SessionTransaction) -> None:
    """The facts this session held from the collector go back to it (a savepoint ending
    is not the end: the facts are still in use).

    A session's own shared facts (not kept for a run, :func:`keep_facts`) end with its
    transaction: they are dropped first, freed by reference counting (JSON trees hold no
    cycles), so the collector's end-of-hold pass walks the process, not a slice's ~400,000
    dead dicts and lists (~0.4 s of CPU per 500 patients)."""
    if transaction.parent is None:
        if session.info.get(_SHARED_FACTS) not in _KEPT:
            session.info.pop(_SHARED_FACTS, None)  # no other reference here: freed now
        _collector.release(session)


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_rollback")
def _forget_at_transaction_end(session: Session) -> None:
    """Drop the written patients again once the write is visible (or undone) for everyone."""
    pending: list[Written] | None = session.info.pop(_WRITTEN, None)
    for written in pending or ():
        for kept in list(_KEPT):
            kept.forget(written)


def shared_fact_rows(
    session: Session,
    *,
    patient_ids: list[str] | None,
    batch: int = 500,
    only_codes: Collection[str] | None,
    always_types: Sequence[str] = ("Patient",),
) -> Iterator[tuple[str, FactRows]] | None:
    """The rows ``session`` shares for these patients (:func:`share_facts`), unfiltered, when
    they hold every fact ``load_for_identification`` would select with this filter; else None.

    The caller selects a program's facts from them itself (:func:`selects`), so eight programs
    index one patient's rows once instead of each building its own filtered list.
    """
    shared: SharedFacts | None = session.info.get(_SHARED_FACTS)
    if shared is None or patient_ids is None or only_codes is None:
        return None
    always = frozenset(always_types)
    if always & SKIPPED_TYPES or not shared.covers(always=always, codes=frozenset(only_codes)):
        return None
    return shared.rows(session, patient_ids, batch=batch)


def selects(
    rtype: str, row_codes: frozenset[str], *, always: frozenset[str], codes: frozenset[str]
) -> bool:
    """Whether a caller with this filter (``always`` types, wanted ``codes``) selects a row:
    the same test as :meth:`SharedFacts.facts`."""
    return rtype in always or rtype not in SUPPORTED_TYPES or not row_codes.isdisjoint(codes)


def load_for_identification(
    session: Session,
    *,
    patient_ids: list[str] | None = None,
    batch: int = 500,
    only_codes: Collection[str] | None,
    always_types: Sequence[str] = ("Patient",),
) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """Facts when they suffice (a code filter, no skipped type wanted), else whole resources."""
    if only_codes is None or any(rtype in SKIPPED_TYPES for rtype in always_types):
        return load_patient_resources(
            session,
            patient_ids=patient_ids,
            batch=batch,
            only_codes=only_codes,
            always_types=always_types,
        )
    return load_patient_facts(
        session,
        patient_ids=patient_ids,
        batch=batch,
        only_codes=only_codes,
        always_types=always_types,
    )


def _wanted(
    rtype: str, codes: str, *, always: frozenset[str], codes_wanted: frozenset[str]
) -> bool:
    if rtype in always or rtype not in SUPPORTED_TYPES:
        return True
    return not codes_wanted.isdisjoint(codes.split())


def _all_patient_ids(session: Session) -> list[str]:
    return list(session.scalars(select(Patient.id).order_by(Patient.id)))
