"""The import's time-zone finder loads without cffi's C parser and answers as the library does.

Each side runs in a fresh interpreter: which point-in-polygon module the library uses is
decided at its first import, once per process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.records.test_tz_finder import _synthea_points

ROOT = Path(__file__).resolve().parents[2]

# The finder as an import loads it (``records.timezones``), or the library's own modules first.
SIDE = """
import json, sys
import numpy as np
if sys.argv[1] == "library":
    import timezonefinder
from careloop.records import timezones
timezones.load_finder()
finder = timezones._finder()
rng = np.random.default_rng(18)
points = [tuple(p) for p in json.loads(sys.argv[2])]
points += list(zip(rng.uniform(-180, 180, 2000).tolist(), rng.uniform(-90, 90, 2000).tolist()))
# Around the US zone borders: cells holding several zones, answered by the polygon test.
points += list(zip(rng.uniform(-125, -67, 3000).tolist(), rng.uniform(25, 49, 3000).tolist()))
print(json.dumps({
    "zones": [finder.timezone_at(lng=x, lat=y) for x, y in points],
    "compiled_test": finder.using_clang_pip(),
    "c_parser_imported": "pycparser" in sys.modules,
}))
"""


def _side(kind: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", SIDE, kind, json.dumps(_synthea_points())],
        capture_output=True,
        check=True,
        cwd=ROOT,
        text=True,
    )
    answer: dict[str, object] = json.loads(done.stdout)
    return answer


def test_the_import_finder_loads_without_the_c_parser_and_names_the_same_zones() -> None:
    ours, library = _side("ours"), _side("library")
    assert ours["c_parser_imported"] is False
    assert library["c_parser_imported"] is True  # the library's own module, for comparison
    assert ours["compiled_test"] is True
    assert library["compiled_test"] is True
    zones = ours["zones"]
    assert isinstance(zones, list)
    assert len(zones) > 5_050
    assert zones == library["zones"]
    assert len(set(zones)) > 50
