"""What the import's parsers remember between resources never changes what they decide.

The compiled check remembers the recurring elements it passed (a code's concept, a
quantity) for resources decoded from JSON; codes and times are read by faster paths. A
resource is still kept or rejected, and indexed, exactly as each one read alone would be.
"""

from __future__ import annotations

import copy
import uuid
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from careloop.fhirdata import dates
from careloop.fhirdata.codings import codings
from careloop.records.extract import index_resource, resource_codes, resource_times
from careloop.records.fact_columns import copied_columns
from careloop.records.fhir_check import surely_valid
from tests.records.test_fhir_check import BROKEN, _observation, synthea_resources
from tests.records.test_import_fast_paths import ODD_SHAPES, general

Resource = dict[str, Any]


def _parsed(resource: Resource) -> Resource:
    """``resource`` as JSON decodes it (as it is, if JSON cannot hold it: a huge integer)."""
    try:
        return orjson.loads(orjson.dumps(resource))  # type: ignore[no-any-return]
    except TypeError:
        return resource


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_a_broken_resource_is_not_passed_for_the_good_one_seen_before(case: str) -> None:
    """Each hand-broken resource, checked right after the resource it was broken from (its
    concepts, meta and quantity remembered), is as unsure as when checked alone."""
    assert surely_valid(_parsed(_observation()), parsed=True)
    broken = BROKEN[case]()
    assert surely_valid(_parsed(broken), parsed=True) == surely_valid(broken)


@pytest.mark.parametrize("value", [True, 1, "72.5", None, [72.5]])
def test_a_quantity_of_another_type_is_not_the_one_remembered(value: Any) -> None:
    """A quantity of 72.5 passed does not pass 1, true or "72.5" in the same place."""
    good = _observation()
    good["valueQuantity"] = {"value": 1.0, "unit": "kg"}
    assert surely_valid(_parsed(good), parsed=True)
    other = copy.deepcopy(good)
    other["valueQuantity"]["value"] = value
    expected = surely_valid(other)
    assert surely_valid(_parsed(other), parsed=True) == expected
    if type(value) is not int:
        assert not expected


def test_values_that_are_not_json_are_never_answered_from_memory() -> None:
    """A concept whose text is a UUID or a datetime object (written as a string by orjson)
    is not passed because a concept with that string was: without ``parsed`` nothing is
    remembered."""
    good = _observation()
    moment = datetime(2024, 3, 1, tzinfo=UTC)
    for odd in (uuid.UUID(int=7), moment):
        good["code"]["text"] = str(odd) if isinstance(odd, uuid.UUID) else moment.isoformat()
        assert surely_valid(_parsed(good), parsed=True)
        assert surely_valid(good)
        bad = copy.deepcopy(good)
        bad["code"]["text"] = odd
        assert not surely_valid(bad)


def test_the_synthea_resources_are_checked_and_indexed_alike_remembered_or_not() -> None:
    """Every Synthea resource: same check answer and same indexed columns either way."""
    for resource in synthea_resources()[::7]:
        assert surely_valid(resource, parsed=True) == surely_valid(resource)
        a, b = index_resource(resource, parsed=True), index_resource(resource)
        assert (a.codes, a.effective_start, a.effective_end, a.status, a.patient_ref) == (
            b.codes,
            b.effective_start,
            b.effective_end,
            b.status,
            b.patient_ref,
        )


_scalar = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.sampled_from(["", "s", "c"]))
_coding = st.dictionaries(st.sampled_from(["system", "code", "display"]), _scalar)
_coding_list = st.one_of(_scalar, st.lists(st.one_of(_coding, _scalar)))
_concept = st.one_of(
    _scalar,
    _coding,
    st.fixed_dictionaries(
        {},
        optional={"coding": _coding_list, "code": _scalar, "system": _scalar, "text": _scalar},
    ),
)


@given(st.one_of(_concept, st.lists(st.one_of(_concept, st.lists(_concept)))))
def test_codes_are_read_as_fhirdata_codings_reads_them(value: Any) -> None:
    """The codes column's pairs of any shape equal ``fhirdata.codings`` (or both raise)."""
    observation = {"resourceType": "Observation", "code": value, "component": [{"code": value}]}
    try:
        expected: Any = tuple(dict.fromkeys([*codings(value), *codings(value)]))
    except TypeError:
        expected = TypeError
    try:
        got: Any = resource_codes(observation)
    except TypeError:
        got = TypeError
    assert got == expected


@pytest.mark.parametrize(
    "value", ["2024", "2024-02", "2024-02-29", "2024-03-01T10:00:00+01:00", "2024-03-01T10:00:00"]
)
def test_a_time_read_again_is_the_time_read_first(value: str) -> None:
    """Times are read once and remembered: the second read equals ``dates.interval``."""
    resource = {"resourceType": "Condition", "onsetDateTime": value}
    assert resource_times(resource) == resource_times(resource) == dates.interval(value)


def test_a_bad_time_is_rejected_every_time() -> None:
    """A time that is not a FHIR date is rejected however often it is read."""
    for _ in range(2):
        with pytest.raises(ValueError, match="out of range"):
            resource_times({"resourceType": "Condition", "onsetDateTime": "2024-02-30"})


def test_fact_columns_kept_by_concept_equal_the_general_rule() -> None:
    """The typed fact columns of every Synthea resource and of the odd shapes, concepts
    kept from earlier resources or not, are the general rule's columns."""
    shapes = [_parsed(shape) for shape in ODD_SHAPES.values()]
    for resource in [*synthea_resources()[::3], *shapes, *shapes]:
        assert copied_columns(resource, parsed=True) == general(resource)


def test_a_day_that_does_not_exist_is_unsure_after_real_days_passed() -> None:
    """Dates passed before do not pass 30 February, nor a date that is not a string."""
    good = _observation()
    good["effectiveDateTime"] = "2024-02-29"
    assert surely_valid(_parsed(good), parsed=True)
    for odd in ("2024-02-30", "2023-02-29", ["2024-02-29"], 2024):
        assert not surely_valid({**good, "effectiveDateTime": odd}, parsed=True)
