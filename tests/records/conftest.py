from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pytest

from tests.conftest import SHARED_DATA

SYNTHEA = SHARED_DATA / "synthea-r4"


@pytest.fixture(scope="session")
def synthea_manifest() -> list[dict[str, str]]:
    with (SYNTHEA / "manifest.csv").open() as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="session")
def synthea_counts() -> Counter[str]:
    """Resource counts of the 100 Synthea bundles, counted from the files themselves."""
    import orjson

    counts: Counter[str] = Counter()
    for path in sorted((SYNTHEA / "patients").glob("*.json")):
        bundle = orjson.loads(path.read_bytes())
        counts.update(e["resource"]["resourceType"] for e in bundle["entry"])
    return counts


@pytest.fixture(scope="session")
def synthea_distinct_counts() -> Counter[str]:
    """Distinct resources per type: organizations and practitioners recur across bundles."""
    import orjson

    seen: set[tuple[str, str]] = set()
    for path in sorted((SYNTHEA / "patients").glob("*.json")):
        bundle = orjson.loads(path.read_bytes())
        seen.update((e["resource"]["resourceType"], e["resource"]["id"]) for e in bundle["entry"])
    return Counter(rtype for rtype, _ in seen)


def synthea_dir() -> Path:
    return SYNTHEA / "patients"
