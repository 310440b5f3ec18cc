"""Refusing a fact row on its typed columns, before its JSON is decoded.

A night's retrieves mostly keep few of the facts they look at: an Encounter four years old is
not "a visit in the last 6 months". Deciding that from the fact costs decoding its JSON and
parsing its period; ``resource_facts`` already holds the status and the start and end as
columns (``records.fact_columns``). A row test answers "can this row pass the retrieve's
filter?" from those columns, and says no only when the filter would surely refuse the fact
itself: the retrieve's answer is unchanged, the row is just never decoded.

Why the columns' timing is enough (``tests/programs/test_row_tests.py`` checks it on every
Synthea fact and on generated periods): for a ``period`` (Encounter, CarePlan), the
``start_at`` column is the engine's start as an instant, or NULL only when the engine has no
start; ``end_at`` is at or after the engine's end (the end of a partial date, where the
engine takes its start), or NULL. Day-precision relations compare dates *as written*, up to
a day from the UTC date of the same instant, so a row is refused only when it lies
:data:`MARGIN` or more outside the window. A CarePlan whose period is empty has columns
from ``created``: the engine's interval is then None, which no relation holds, so refusing
it changes nothing either.

An Observation's ``effective``: the columns come from ``effectivePeriod``, else
``effectiveDateTime``, ``effectiveInstant`` or ``issued``; the engine reads the same
choice (``effectiveDateTime`` first, but a resource holding two values of a choice is
refused at import, by ``records.fhir_check`` or the models) and has no interval from
``issued`` or ``effectiveTiming``, where any refusal is then right. An Immunization's
``occurrence`` (a program's timing field): the columns come from ``occurrenceDateTime``, else
``recorded``; R4's only other choice is ``occurrenceString``, which gives the engine no
interval (the models refuse the ``occurrencePeriod`` the engine would also read), so a column
drawn from ``recorded`` or NULL belongs to a fact no relation holds for. Procedure
(``performedAge``: an interval the columns lack) and Condition (prevalence) are not refused.
"""

from __future__ import annotations

from collections.abc import Callable

from careloop.records.fact_columns import FactRow

MARGIN = 3 * 86_400.0
"""Seconds a row must lie outside a window to be refused: the dates as written may differ from
the UTC dates of the same instants by a day at each end."""
TIMED_FIELDS = {
    "period": frozenset({"Encounter", "CarePlan"}),
    "effective": frozenset({"Observation"}),
    "effective_latest": frozenset({"Observation"}),
    "occurrence": frozenset({"Immunization"}),
}
"""The timing fields whose columns are known to bound the engine's interval, by type."""
RowTest = Callable[[FactRow, float, float], bool]
"""(row, window start, window end as POSIX seconds) -> whether the filter may keep the row."""


def _overlaps(row: FactRow, low: float, high: float) -> bool:
    start, end = row.start, row.end
    if start is None or start > high + MARGIN:
        return False
    return end is None or end >= low - MARGIN


def _during(row: FactRow, low: float, _high: float) -> bool:
    return row.start is not None and row.start >= low - MARGIN


def _starts_during(row: FactRow, low: float, high: float) -> bool:
    start = row.start
    if start is None:
        return False
    # A moment equal to either end is in even when the window is upside down.
    return high < low or low - MARGIN <= start <= high + MARGIN


def _starts_before(row: FactRow, _low: float, high: float) -> bool:
    return row.start is not None and row.start <= high + MARGIN


def _ends_during(row: FactRow, low: float, high: float) -> bool:
    return row.end is None or high < low or row.end >= low - MARGIN


# What each relation needs of the engine's (start, end) that the columns can refute: a start
# (``overlaps``, ``during``, ``starts_*``: the column is NULL only when the engine's is None),
# a start not after the window (the column is the engine's start), an end not before it (the
# column is at or after the engine's end). ``ends_on_or_before`` needs nothing refutable.
RELATION_TESTS: dict[str, RowTest] = {
    "overlaps": _overlaps,
    "overlaps_day": _overlaps,
    "during": _during,
    "during_day": _during,
    "starts_during_day": _starts_during,
    "starts_on_or_before": _starts_before,
    "starts_on_or_before_day": _starts_before,
    "ends_during_day": _ends_during,
}


def _latest_during(row: FactRow, low: float, high: float) -> bool:
    """``effective_latest`` ``during_day``: the engine's point is its end when bounded, else
    its start; the start is the column's, the end at or before the column's."""
    start, end = row.start, row.end
    if high < low:
        return start is not None or end is not None
    if end is None:  # the end is unbounded or absent: the point is the start
        return start is not None and low - MARGIN <= start <= high + MARGIN
    if start is None:  # the point is the end
        return end >= low - MARGIN
    return max(start, end) >= low - MARGIN


POINT_TESTS: dict[str, RowTest] = {"during_day": _latest_during}
"""The same for the point field ``effective_latest`` (``timing.POINT_RELATIONS``)."""


def timing_row_test(rtype: str, field: str, relation: str) -> RowTest | None:
    """The row test of a timing filter on ``field`` of ``rtype`` resources, if the columns
    can refute it (None: every row is decoded and tested on its fact)."""
    if rtype not in TIMED_FIELDS.get(field, ()):
        return None
    tests = POINT_TESTS if field == "effective_latest" else RELATION_TESTS
    test = tests.get(relation)
    if test is None:
        return None

    def may_hold(row: FactRow, low: float, high: float) -> bool:
        return not row.timed or test(row, low, high)

    return may_hold


STATUS_COLUMN_TYPES = frozenset(
    {"Encounter", "Procedure", "Immunization", "Observation", "CarePlan", "MedicationRequest"}
)
"""Types whose ``status`` is required (1..1 in FHIR R4, so a text in every stored resource):
their ``status`` column (``records.extract.resource_status``) is the resource's ``status``,
never a clinical status, so a status test on it answers a status filter exactly."""


def status_row_test(allowed: frozenset[str]) -> Callable[[FactRow], bool]:
    """The row test of a filter keeping resources whose ``status`` is in ``allowed``.

    The column is the resource's ``status`` when that is a text (else a Condition's clinical
    status, or NULL): a column outside ``allowed`` means a status outside it or none at all,
    both refused by the filter."""

    def may_hold(row: FactRow) -> bool:
        return not row.timed or row.status in allowed

    return may_hold
