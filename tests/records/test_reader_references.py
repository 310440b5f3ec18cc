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
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_awkward_bundles_read_the_same_both_ways(name: str, tmp_path: Path) -> None:
    path = tmp_path / "bundle.json"
    raw = orjson.dumps(CASES[name], option=orjson.OPT_INDENT_2)
    path.write_bytes(raw.replace(b"\\\\u002d", b"\\u002d"))
    assert read_json_file(path) == _walked(path)
