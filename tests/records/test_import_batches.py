"""The import's batching: what the writer gets and when."""

from __future__ import annotations

from careloop.records import importer
from careloop.records.importer import PreparedUnit, _batches


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
