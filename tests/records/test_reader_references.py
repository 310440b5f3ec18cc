"""Rewriting ``urn:`` references in a file's bytes reads the same resources as walking them."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from careloop.records.fhir_reader import read_bundle, read_json_file
from tests.conftest import FIXTURES
from tests.records.conftest import synthea_dir


def _walked(path: Path):  # type: ignore[no-untyped-def]
    return read_bundle(orjson.loads(path.read_bytes()), file=str(path))


FILES = [
    *sorted(synthea_dir().glob("*.json"))[::10],
    *(p for p in sorted((FIXTURES / "fhir").glob("*.json")) if p.name != "truncated.json"),
]


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name[:24])
def test_a_file_reads_the_same_as_walking_its_entries(path: Path) -> None:
    assert read_json_file(path) == _walked(path)


def _bundle(*entries: dict) -> dict:  # type: ignore[type-arg]
    return {"resourceType": "Bundle", "type": "collection", "entry": list(entries)}


PATIENT = {"fullUrl": "urn:uuid:p-1", "resource": {"resourceType": "Patient"}}


def _observation(reference: str, **more: object) -> dict:  # type: ignore[type-arg]
    resource = {"resourceType": "Observation", "id": "o", "subject": {"reference": reference}}
    return {"fullUrl": "urn:uuid:o", "resource": {**resource, **more}}


CASES = {
    "nested in an extension": _bundle(
        PATIENT,
        _observation(
            "urn:uuid:p-1",
            extension=[{"url": "x", "valueReference": {"reference": "urn:uuid:p-1"}}],
        ),
    ),
    "unresolved": _bundle(PATIENT, _observation("urn:uuid:nobody")),
    "escaped": _bundle(PATIENT, _observation("urn:uuid:p\\u002d1")),
    "reference text in a string": _bundle(
        PATIENT, _observation("urn:uuid:p-1", note=[{"text": '"reference": "urn:uuid:p-1"'}])
    ),
    "id from the full url": _bundle(PATIENT, _observation("urn:uuid:p-1")),
    "a rejected entry": _bundle({"fullUrl": "urn:uuid:x", "resource": {"id": 3}}, PATIENT),
    # The one-parse path guesses each entry's target from the bytes: a guess that the
    # parsed entries contradict must not be used.
    "a nested bundle reusing a full url": _bundle(
        {"fullUrl": "urn:uuid:p-1", "resource": {"resourceType": "Patient", "id": "p-1"}},
        {
            "fullUrl": "urn:uuid:b",
            "resource": {
                "resourceType": "Bundle",
                "id": "b",
                "type": "collection",
                "entry": [
                    {"fullUrl": "urn:uuid:p-1", "resource": {"resourceType": "Group", "id": "g"}}
                ],
            },
        },
        _observation("urn:uuid:p-1"),
    ),
    "the resource before its full url": _bundle(
        {"resource": {"resourceType": "Patient", "id": "p-2"}, "fullUrl": "urn:uuid:p-1"},
        _observation("urn:uuid:p-1"),
    ),
    "laid out as Synthea does": _bundle(
        {"fullUrl": "urn:uuid:p-1", "resource": {"resourceType": "Patient", "id": "p-1"}},
        _observation("urn:uuid:p-1"),
    ),
    # Laid out as Synthea does, one reference the plain pattern cannot read: counting the
    # "urn: of the bytes must not let it through unread.
    "laid out as Synthea does, one reference escaped": _bundle(
        {"fullUrl": "urn:uuid:p-1", "resource": {"resourceType": "Patient", "id": "p-1"}},
        _observation("urn:uuid:p-1", focus=[{"reference": "urn:uuid:p\\u002d1"}]),
    ),
    "laid out as Synthea does, an id that looks like a urn": _bundle(
        {"fullUrl": "urn:uuid:p-1", "resource": {"resourceType": "Patient", "id": "urn:p"}},
        _observation("urn:uuid:p-1"),
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_compact_bundles_read_the_same_both_ways(name: str, tmp_path: Path) -> None:
    """Bundles written without spaces (as Synthea's are) read as walking their entries."""
    path = tmp_path / "bundle.json"
    path.write_bytes(orjson.dumps(CASES[name]).replace(b"\\\\u002d", b"\\u002d"))
    assert read_json_file(path) == _walked(path)


@pytest.mark.parametrize("name", sorted(CASES))
def test_awkward_bundles_read_the_same_both_ways(name: str, tmp_path: Path) -> None:
    path = tmp_path / "bundle.json"
    raw = orjson.dumps(CASES[name], option=orjson.OPT_INDENT_2)
    path.write_bytes(raw.replace(b"\\\\u002d", b"\\u002d"))
    assert read_json_file(path) == _walked(path)


def test_a_reference_names_the_entry_of_the_bundle_not_of_a_bundle_inside_it(
    tmp_path: Path,
) -> None:
    path = tmp_path / "bundle.json"
    path.write_bytes(orjson.dumps(CASES["a nested bundle reusing a full url"]))
    read = read_json_file(path)
    observation = next(r for _, r in read.resources if r["resourceType"] == "Observation")
    assert observation["subject"] == {"reference": "Patient/p-1"}
