"""The typed columns of a resource fact: what measures read, without decoding the fact.

Beside each fact's JSON (``records.projection``), ``resource_facts`` keeps the fields the
measure engine asks of most resources as columns written at import:

- ``code_pairs``: the (system, code) pairs at the type's primary code path (QI-Core's, the
  path a retrieve such as ``[Encounter: "Office Visit"]`` looks at), in the resource's order,
  exactly as the engine's code index reads them (:func:`primary_pairs`);
- ``status``, ``start_at``, ``end_at``: the resource's status and effective/period start and
  end, as ``fhir_resources`` indexes them (``records.extract``);
- ``value_num``, ``value_unit``: a ``valueQuantity``'s value and unit;
- ``category_pairs``: the pairs of ``category`` (an Encounter's ``class``).

Pairs are one text, each pair ``system US code`` and pairs separated by RS (ASCII unit and
record separators): splitting a short text is the cheapest way found to get them into
Python (see ``docs/benchmarks.md``, ntG). A pair that cannot be written so (a value not a
string, or holding a separator) makes the column NULL, and a reader then computes the pairs
from the fact itself: the column is exact or absent, never approximate.

Facts stored before the columns existed are filled in by ``records.fact_backfill`` in the
background; until then their ``columns_version`` is NULL.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from typing import Any

import orjson

from careloop.fhirdata.codings import codings as fhir_codings

# Where a retrieve such as [Encounter: "Office Visit"] looks for the code (QI-Core primary
# code paths); everything else uses ``code``.
CODE_PATHS = {
    "Encounter": "type",
    "MedicationRequest": "medicationCodeableConcept",
    "DeviceRequest": "codeCodeableConcept",
    "Immunization": "vaccineCode",
}
FACT_COLUMNS = (
    "code_pairs", "status", "start_at", "end_at", "value_num", "value_unit", "category_pairs",
    "columns_version",
)  # fmt: skip
"""The typed columns, in table order, and their version (the upserts' conflict clauses name
them)."""
COLUMNS_VERSION = 1
"""The version of the rules the columns are computed by, written in ``columns_version`` beside
them by every writer (import and ``records.fact_backfill``). NULL there: not computed yet, so
a reader takes nothing from the columns but ``code_pairs`` (itself NULL then). A change of
these rules bumps it, and a migration resets the backfill so older rows are computed again."""
UNIT_SEPARATOR = "\x1f"
RECORD_SEPARATOR = "\x1e"
Pairs = tuple[tuple[str, str], ...]


def codings(concept: Any) -> Iterator[tuple[str, str]]:
    """The (system, code) pairs of a CodeableConcept (or a list of them) that name a system."""
    return ((system, code) for system, code in fhir_codings(concept) if system and code)


def pairs_at(concept: Any) -> Pairs:
    """The (system, code) pairs of a resource's code element (a concept, or a list), as the
    measure engine's code index reads them."""
    if concept is None or isinstance(concept, list):
        return tuple(codings(concept))
    return tuple(
        (c["system"], c["code"]) for c in concept.get("coding", ()) if "system" in c and "code" in c
    )


def primary_pairs(resource: dict[str, Any]) -> Pairs:
    """The pairs at the primary code path of the resource's own type."""
    return pairs_at(resource.get(CODE_PATHS.get(str(resource.get("resourceType")), "code")))


def pairs_text(pairs: Pairs) -> str | None:
    """``pairs`` as one column text; None when a pair cannot be written exactly."""
    parts = []
    for system, code in pairs:
        if not (isinstance(system, str) and isinstance(code, str)):
            return None
        part = system + UNIT_SEPARATOR + code
        if part.count(UNIT_SEPARATOR) != 1 or RECORD_SEPARATOR in part:
            return None
        parts.append(part)
    return RECORD_SEPARATOR.join(parts)


@lru_cache(maxsize=65_536)
def parse_pairs(text: str) -> Pairs:
    """The pairs a :func:`pairs_text` column holds.

    Kept per text: a night parses the same few thousand texts (a LOINC code's pairs) for
    hundreds of thousands of rows; the tuples are immutable, so every row shares one."""
    if not text:
        return ()
    return tuple(
        tuple(part.split(UNIT_SEPARATOR))  # type: ignore[misc]
        for part in text.split(RECORD_SEPARATOR)
    )


def copied_columns(resource: dict[str, Any], *, parsed: bool = False) -> tuple[Any, ...]:
    """:func:`computed_columns` as the values ``records.store_copy`` sends after the codes.

    Import computes these for every fact (25,000 for 100 Synthea files), so the usual shapes
    (concepts whose codings are objects with string systems and codes, a numeric quantity)
    take a straight path of one look at each coding; anything else, or any doubt, goes
    through :func:`computed_columns` (equal on every Synthea fact and on odd shapes:
    ``tests/records/test_fact_columns.py``). ``parsed``: ``resource`` was decoded from JSON
    text, so a concept's pairs may be the ones kept for an equal concept (:func:`_kept_pairs`).
    """
    rtype = resource.get("resourceType")
    usual = _kept_pairs if parsed else _usual_pairs
    code_pairs = usual(resource.get(CODE_PATHS.get(rtype, "code")), bare=False)  # type: ignore[arg-type]
    category = usual(resource.get("class" if rtype == "Encounter" else "category"))
    if code_pairs is _UNUSUAL or category is _UNUSUAL:
        return tuple(computed_columns(resource).values())
    quantity = resource.get("valueQuantity")
    if quantity is None:
        return (code_pairs, None, None, category)
    value = quantity.get("value") if type(quantity) is dict else None
    unit = quantity.get("unit") if type(quantity) is dict else None
    if type(value) is not float or type(unit) is not str:
        return tuple(computed_columns(resource).values())
    return (code_pairs, value, unit[:64], category)


_UNUSUAL = "unusual"
"""What :func:`_usual_pairs` answers for a shape it leaves to :func:`computed_columns`."""
_KEPT: tuple[dict[bytes, str | None], dict[bytes, str | None]] = ({}, {})
""":func:`_usual_pairs` by concept JSON text, not bare and bare."""


def _kept_pairs(concept: Any, *, bare: bool = True) -> str | None:
    """:func:`_usual_pairs` of a concept decoded from JSON, kept by its compact JSON text:
    a LOINC code's concept recurs in thousands of resources. Equal text is an equal value of
    the same JSON types, hence the same answer (not so for other objects: ``orjson`` writes
    a ``UUID`` as a string too)."""
    if concept is None:
        return ""
    try:
        text = orjson.dumps(concept)
    except TypeError:
        return _usual_pairs(concept, bare=bare)
    kept = _KEPT[bare]
    if text in kept:
        return kept[text]
    if len(kept) >= 20_000:
        kept.clear()
    pairs = kept[text] = _usual_pairs(concept, bare=bare)
    return pairs


def _usual_pairs(concept: Any, *, bare: bool = True) -> str | None:
    """:func:`pairs_text` of a concept, a list of concepts or (``bare``, as
    ``fhirdata.codings`` reads one) a bare Coding, when every coding is an object with a
    string system and code (``_UNUSUAL`` otherwise). The separators are counted once over
    the joined text: a pair holding one makes the column None, as :func:`pairs_text` does."""
    if concept is None:
        return ""
    if type(concept) is dict:
        if "code" in concept:
            if not bare or "coding" in concept:
                return _UNUSUAL
            concept = {"coding": [concept]}
        concept = (concept,)
    elif type(concept) is not list:
        return _UNUSUAL
    parts = []
    for item in concept:
        if type(item) is not dict or "code" in item:
            return _UNUSUAL
        coding = item.get("coding", ())
        if type(coding) is not list and coding != ():
            return _UNUSUAL
        for pair in coding:
            if type(pair) is not dict:
                return _UNUSUAL
            system = pair.get("system")
            code = pair.get("code")
            if type(system) is not str or type(code) is not str or not system or not code:
                return _UNUSUAL
            parts.append(system + UNIT_SEPARATOR + code)
    text = RECORD_SEPARATOR.join(parts)
    if text.count(UNIT_SEPARATOR) != len(parts) or text.count(RECORD_SEPARATOR) != len(parts) - 1:
        return None if parts else ""
    return text


def computed_columns(resource: dict[str, Any]) -> dict[str, Any]:
    """The columns drawn from the resource's own fields (``code_pairs``, ``value_num``,
    ``value_unit``, ``category_pairs``); status and timing come from ``records.extract``."""
    try:
        code_pairs = pairs_text(primary_pairs(resource))
    except (TypeError, AttributeError, KeyError):
        code_pairs = None  # the engine meets the same shape and decides (it may raise)
    quantity = resource.get("valueQuantity")
    value_num = value_unit = None
    if isinstance(quantity, dict):
        value = quantity.get("value")
        if isinstance(value, int | float) and not isinstance(value, bool):
            try:
                value_num = float(value)
            except OverflowError:
                value_num = None
        unit = quantity.get("unit")
        if isinstance(unit, str):
            value_unit = unit[:64]
    where = "class" if resource.get("resourceType") == "Encounter" else "category"
    category = pairs_text(tuple(fhir_codings(resource.get(where))))
    return {
        "code_pairs": code_pairs,
        "value_num": value_num,
        "value_unit": value_unit,
        "category_pairs": category,
    }


class FactRow:
    """A fact row as read for a night: its type, bare codes and code pairs from the columns,
    the fact's JSON decoded only when something reads the fact itself (:attr:`fact`).

    Most facts a night reads are only ever looked up by code (a retrieve whose value sets
    they are not in); their JSON is never decoded. ``timed``: the row's ``status``, ``start``
    and ``end`` (``start_at``/``end_at`` as POSIX seconds) are computed
    (``columns_version`` set), so a retrieve may refuse the row on them without decoding
    it (``programs.measures.row_tests``).
    """

    __slots__ = (
        "_fact",
        "_text",
        "codes",
        "end",
        "pairs_text",
        "rtype",
        "start",
        "status",
        "timed",
    )

    def __init__(
        self,
        rtype: str,
        codes: frozenset[str],
        pairs_text: str | None,
        text: str | bytes,
        status: str | None = None,
        start: float | None = None,
        end: float | None = None,
        timed: bool = False,
    ) -> None:
        self.rtype = rtype
        self.codes = codes
        self.pairs_text = pairs_text
        self._text: str | bytes | None = text
        self._fact: dict[str, Any] | None = None
        self.status = status
        self.start = start
        self.end = end
        self.timed = timed

    @property
    def fact(self) -> dict[str, Any]:
        """The fact, decoded on first use (one dict per row: callers share it)."""
        fact = self._fact
        if fact is None:
            assert self._text is not None
            fact = self._fact = orjson.loads(self._text)
            self._text = None
        return fact

    def pairs(self, path: str) -> Pairs:
        """The pairs at ``path``, the type's primary code path: from the column when it holds
        them, else from the fact (as :func:`pairs_at` reads it)."""
        if self.pairs_text is not None:
            return parse_pairs(self.pairs_text)
        return pairs_at(self.fact.get(path))
