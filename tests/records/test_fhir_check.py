"""The compiled check and full model validation accept and reject the same resources.

The import takes the cheap path (``records.fhir_check.surely_valid``) and runs the pydantic
models only when it answers False, so what the import keeps or rejects equals full
validation exactly when the check never passes a resource the models reject. These tests
hold it to that on the Synthea files, on hand-broken resources and on generated ones, and
check the cheap path is the one Synthea takes (else it would not be cheap).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from functools import cache
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from careloop.records.extract import SUPPORTED_TYPES, ResourceProblem, validate_resource
from careloop.records.fhir_check import STRUCTURE, describe_structure, surely_valid
from careloop.records.fhir_reader import read_json_file
from tests.records.conftest import synthea_dir

Resource = dict[str, Any]


def full_outcome(resource: Resource) -> str | None:
    """What full model validation says: None (valid) or the reason naming the field."""
    try:
        validate_resource(resource)
    except ResourceProblem as exc:
        return str(exc)
    return None


def import_outcome(resource: Resource) -> str | None:
    """What the import decides: the cheap check, full validation only when it is unsure."""
    return None if surely_valid(resource) else full_outcome(resource)


@cache
def synthea_resources() -> tuple[Resource, ...]:
    found: list[Resource] = []
    for path in sorted(synthea_dir().glob("*.json")):
        found.extend(r for _, r in read_json_file(path).resources)
    return tuple(r for r in found if r["resourceType"] in SUPPORTED_TYPES)


def one_of_each_type() -> dict[str, Resource]:
    return {r["resourceType"]: r for r in reversed(synthea_resources())}


def test_the_compiled_structure_is_the_installed_models_structure() -> None:
    assert json.loads(STRUCTURE.read_text()) == describe_structure(SUPPORTED_TYPES)


def test_the_synthea_files_take_the_cheap_path_and_full_validation_agrees() -> None:
    resources = synthea_resources()
    assert len(resources) > 24_000
    assert [r["id"] for r in resources if not surely_valid(r)] == []
    # Full validation of every fifth resource (all of them would take a minute on a busy
    # machine); every type is among them.
    sample = resources[::5]
    assert {r["resourceType"] for r in sample} == {r["resourceType"] for r in resources}
    assert [r["id"] for r in sample if full_outcome(r) is not None] == []


def _observation() -> Resource:
    return copy.deepcopy(
        next(
            r
            for r in synthea_resources()
            if r["resourceType"] == "Observation" and "valueQuantity" in r
        )
    )


def _patient() -> Resource:
    return copy.deepcopy(one_of_each_type()["Patient"])


def _set(path: str, value: Any, base: Callable[[], Resource] = _observation) -> Resource:
    resource = base()
    node: Any = resource
    *parents, last = path.split(".")
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return resource


def _without(path: str, base: Callable[[], Resource] = _observation) -> Resource:
    resource = base()
    node: Any = resource
    *parents, last = path.split(".")
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    del node[last]
    return resource


BROKEN: dict[str, Callable[[], Resource]] = {
    "decimal as text": lambda: _set("valueQuantity.value", "heavy"),
    "decimal as number text": lambda: _set("valueQuantity.value", "72.5"),
    "decimal as boolean": lambda: _set("valueQuantity.value", True),
    "decimal infinite": lambda: _set("valueQuantity.value", float("inf")),
    "status missing": lambda: _without("status"),
    "code missing": lambda: _without("code"),
    "status with two spaces": lambda: _set("status", "final  x"),
    "status empty": lambda: _set("status", ""),
    "status a number": lambda: _set("status", 3),
    "status with its extension": lambda: {**_observation(), "_status": {"id": "s"}},
    "unknown element": lambda: {**_observation(), "colour": "red"},
    "two values": lambda: {**_observation(), "valueString": "high"},
    "null element": lambda: _set("issued", None),
    "null in a list": lambda: _set("category", [None]),
    "empty list": lambda: _set("category", []),
    "list where one is expected": lambda: _set("code", [{"text": "x"}]),
    "one where a list is expected": lambda: _set("category", {"text": "x"}),
    "coding code with a leading space": lambda: _set("code.coding.0.code", " 8302-2"),
    "coding not an object": lambda: _set("code.coding", ["8302-2"]),
    "day that does not exist": lambda: _set("effectiveDateTime", "2021-02-30"),
    "time without a zone": lambda: _set("effectiveDateTime", "2021-02-03T10:00:00"),
    "hour 24": lambda: _set("effectiveDateTime", "2021-02-03T24:00:00Z"),
    "leap second": lambda: _set("effectiveDateTime", "2016-12-31T23:59:60Z"),
    "nanoseconds": lambda: _set("effectiveDateTime", "2021-02-03T10:00:00.123456789Z"),
    "partial date": lambda: _set("effectiveDateTime", "2021-02"),
    "instant without seconds": lambda: _set("issued", "2021-02-03T10:00Z"),
    "instant as a date": lambda: _set("issued", "2021-02-03"),
    "reference as text": lambda: _set("subject", "Patient/1"),
    "reference object unknown element": lambda: _set("subject", {"ref": "Patient/1"}),
    "id with underscore": lambda: _set("id", "a_b"),
    "id too long": lambda: _set("id", "a" * 300),
    "resource type of another": lambda: _set("resourceType", "Condition"),
    "contained resource": lambda: {
        **_observation(),
        "contained": [{"resourceType": "Patient", "id": "c"}],
    },
    "nested resourceType": lambda: _set("code", {"resourceType": "CodeableConcept", "text": "x"}),
    "narrative without status": lambda: _set("text", {"div": "<div>x</div>"}),
    "birth date with a time": lambda: _set("birthDate", "1970-01-01T00:00:00Z", _patient),
    "gender a list": lambda: _set("gender", ["female"], _patient),
    "deceased twice": lambda: {
        **_patient(),
        "deceasedBoolean": False,
        "deceasedDateTime": "2020-01-01",
    },
    "extension without url": lambda: _set("extension", [{"valueString": "x"}], _patient),
    "extension with two values": lambda: _set(
        "extension", [{"url": "http://x", "valueString": "a", "valueCode": "b"}], _patient
    ),
    "integer as float": lambda: _set("multipleBirthInteger", 2.0, _patient),
    "integer too big": lambda: _set("multipleBirthInteger", 2**40, _patient),
    "boolean as text": lambda: _set("active", "true", _patient),
    "boolean as number": lambda: _set("active", 1, _patient),
}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_a_broken_resource_is_judged_as_full_validation_judges_it(name: str) -> None:
    resource = BROKEN[name]()
    assert import_outcome(resource) == full_outcome(resource)


def test_the_broken_set_holds_rejections_and_coerced_acceptances() -> None:
    outcomes = {name: full_outcome(make()) for name, make in BROKEN.items()}
    # Most are rejected, naming the field ...
    assert outcomes["decimal as text"] is not None
    assert outcomes["decimal as text"].startswith("valueQuantity.value")
    assert outcomes["day that does not exist"] is not None
    # ... and a few the models accept though the check was unsure: they are kept.
    assert outcomes["decimal as number text"] is None
    assert outcomes["leap second"] is None
    assert not surely_valid(BROKEN["decimal as number text"]())


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**40), max_value=2**40)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
    | st.sampled_from(["", " ", "final", "a b", "2021-02-30", "2021-02-03T10:00:00Z", "x_y"]),
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            found.extend(_paths(value, (*prefix, key)))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found.extend(_paths(value, (*prefix, index)))
    return found


@given(
    which=st.integers(min_value=0, max_value=10**6),
    where=st.integers(min_value=0, max_value=10**6),
    value=JSON_VALUES,
    add=st.booleans(),
    key=st.sampled_from(["system", "code", "value", "unit", "text", "status", "start", "end", "x"]),
)
def test_any_one_changed_value_is_judged_as_full_validation_judges_it(
    which: int, where: int, value: Any, add: bool, key: str
) -> None:
    """One element anywhere in a Synthea resource replaced (or one element added to an
    object) by arbitrary JSON: the check never passes what the models reject."""
    samples = list(one_of_each_type().values())
    resource = copy.deepcopy(samples[which % len(samples)])
    paths = [p for p in _paths(resource) if p[0] not in ("resourceType",)]
    path = paths[where % len(paths)]
    node: Any = resource
    for part in path[:-1]:
        node = node[part]
    if add and isinstance(node[path[-1]], dict):
        node[path[-1]][key] = value
    else:
        node[path[-1]] = value
    if surely_valid(resource):
        assert full_outcome(resource) is None


DATE_LIKE = st.from_regex(
    r"\A[0-9]{4}(-[0-9]{2}(-[0-9]{2}(T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,9})?)?"
    r"(Z|[+-][0-9]{2}:[0-9]{2})?)?)?)?\Z"
)


@given(text=DATE_LIKE, field=st.sampled_from(["effectiveDateTime", "issued"]))
def test_dates_the_check_passes_are_dates_the_models_accept(text: str, field: str) -> None:
    resource = _observation()
    resource.pop("effectiveDateTime", None)
    resource.pop("effectivePeriod", None)
    resource[field] = text
    if surely_valid(resource):
        assert full_outcome(resource) is None
    assert import_outcome(resource) == full_outcome(resource)


@given(
    code=st.text(st.characters(codec="utf-8"), max_size=8),
    number=st.one_of(st.floats(), st.integers(), st.text(max_size=6)),
)
def test_codes_and_decimals_the_check_passes_are_ones_the_models_accept(
    code: str, number: Any
) -> None:
    resource = _set("code.coding.0.code", code)
    resource["valueQuantity"]["value"] = number
    if surely_valid(resource):
        assert full_outcome(resource) is None
