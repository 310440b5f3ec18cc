"""The import's batching and its parsers' collector: what the writer gets and when."""

from __future__ import annotations

import gc
import json
from pathlib import Path
from typing import Any

import pytest

from careloop.records import importer
from careloop.records.importer import (
    PreparedUnit,
    _batches,
    prepare_json_file,
    prepare_ndjson_chunk,
)


def _unit(n: int, resources: int = 1) -> PreparedUnit:
    unit = PreparedUnit(file=f"{n}.json")
    unit.resources = [object()] * resources  # type: ignore[list-item]
    return unit


def test_the_first_batches_are_small_so_writing_starts_before_a_full_batch_is_parsed() -> None:
    units = [_unit(n) for n in range(70)]
    seen: list[int] = []

    def parsed() -> object:
        for unit in units:
            seen.append(int(unit.file.split(".")[0]))
            yield unit

    batches = _batches(parsed())  # type: ignore[arg-type]
    first = next(batches)
    # The writer has its first batch once two units are parsed, not sixteen.
    assert [u.file for u in first] == ["0.json", "1.json"]
    assert len(seen) == 2
    sizes = [len(first)] + [len(b) for b in batches]
    assert sizes == [2, 4, 8, 16, 16, 16, 8]
    assert sum(sizes) == 70


def test_a_batch_still_ends_at_its_resource_limit() -> None:
    big = [_unit(n, importer.BATCH_RESOURCES) for n in range(3)]
    assert [len(b) for b in _batches(big)] == [1, 1, 1]


def test_a_parser_reads_and_checks_a_unit_with_the_collector_off_and_turns_it_back_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A unit's decoded JSON holds no cycle: collector passes over it freed nothing and were
    # a fifth of a parser's CPU.
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": {"resourceType": "Patient", "id": "p1", "gender": "female"}}],
    }
    (tmp_path / "one.json").write_text(json.dumps(bundle))
    (tmp_path / "one.ndjson").write_text(json.dumps(bundle["entry"][0]["resource"]) + "\n")
    during: list[bool] = []
    real_read, real_prepare = importer.read_json_file, importer._prepare

    def read(path: Path) -> Any:
        during.append(gc.isenabled())
        return real_read(path)

    def prepare(read: Any, **kwargs: Any) -> PreparedUnit:
        during.append(gc.isenabled())
        return real_prepare(read, **kwargs)

    monkeypatch.setattr(importer, "read_json_file", read)
    monkeypatch.setattr(importer, "_prepare", prepare)
    units = [
        prepare_json_file(str(tmp_path / "one.json")),
        prepare_ndjson_chunk(str(tmp_path / "one.ndjson"), 1, [b"{}", b"not json"]),
    ]
    assert [r.fhir_id for r in units[0].resources] == ["p1"]
    assert len(units[1].rejected) == 2
    assert during == [False, False, False]
    assert gc.isenabled()
