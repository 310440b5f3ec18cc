"""``timing.point`` parses a full dateTime once: the same moments as the general path.

Differential: the general path (``fhirdata.dates.instant``, then the text again for the
offset as written) is kept here as the reference, and every date-like text in the shared
eCQM test cases and the Synthea patients, plus the edge cases below, must give an equal
moment with the same offset (day-precision comparisons use the date as written).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import orjson
import pytest
from tests.conftest import SHARED_DATA

from careloop.fhirdata import dates
from careloop.programs.measures.timing import point

SOURCES = (SHARED_DATA / "ecqm-qicore-2024" / "testcases", SHARED_DATA / "synthea-r4" / "patients")
DATE_LIKE = re.compile(r"\s*\d{4}")
EDGES = (
    "2024", "2024-05", "2024-05-06", " 2024-05-06 ", "2024-05-06T10:00:00Z",
    "2024-05-06T10:00:00Z ", " 2024-05-06T10:00:00+02:00", "2024-05-06T10:00:00.123-05:00",
    "2024-05-06T10:00:00", "2024-05-06 10:00", "20240506T100000", "2024-05-06T24:00:00Z",
    "2024-05-06T10", "2024-13-01T00:00:00Z", "not a date at all", "2024-05-06Tx", "",
    None, 2024, {"start": "2024"},
)  # fmt: skip


def reference_point(value: Any) -> datetime | None:
    """``point`` before the one-parse path (the general path for every text)."""
    moment = dates.instant(value)
    if moment is None or len(value) <= 10:
        return moment
    written = datetime.fromisoformat(value.strip())
    return written if written.tzinfo is not None else moment


def _texts(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for value in node.values():
            yield from _texts(value)
    elif isinstance(node, list):
        for value in node:
            yield from _texts(value)
    elif isinstance(node, str) and DATE_LIKE.match(node):
        yield node


def _shared_texts() -> list[str]:
    found: set[str] = set()
    for folder in SOURCES:
        for path in sorted(folder.rglob("*.json")):
            found.update(_texts(orjson.loads(path.read_bytes())))
    return sorted(found)


def _same(value: Any) -> None:
    expected = reference_point(value)
    got = point(value)
    assert got == expected, value
    if expected is not None and got is not None:
        assert got.utcoffset() == expected.utcoffset(), value
        assert got.date() == expected.date(), value


@pytest.mark.parametrize("value", EDGES, ids=repr)
def test_point_equals_the_general_path_on_edge_cases(value: Any) -> None:
    _same(value)


def test_point_equals_the_general_path_on_every_date_in_the_shared_data() -> None:
    texts = _shared_texts()
    assert len(texts) > 10_000  # the whole corpus was read, full dateTimes included
    assert any(len(text) > 10 and "T" in text for text in texts)
    for text in texts:
        _same(text)
