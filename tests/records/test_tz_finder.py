"""The lazy time-zone finder answers as ``timezonefinder`` itself, for a fraction of its start."""

from __future__ import annotations

import numpy as np
import orjson
from timezonefinder import TimezoneFinder

from careloop.fhirdata.patients import GEOLOCATION_EXTENSION
from careloop.records.tz_finder import LazyTimezoneFinder
from tests.records.conftest import synthea_dir


def _synthea_points() -> list[tuple[float, float]]:
    points = []
    for path in sorted(synthea_dir().glob("*.json")):
        patient = orjson.loads(path.read_bytes())["entry"][0]["resource"]
        for address in patient.get("address", []):
            for ext in address.get("extension", []):
                if ext["url"] == GEOLOCATION_EXTENSION:
                    values = {e["url"]: e["valueDecimal"] for e in ext["extension"]}
                    points.append((values["longitude"], values["latitude"]))
    return points


def test_the_lazy_finder_names_the_zone_the_library_names_everywhere() -> None:
    rng = np.random.default_rng(18)
    world = [
        (float(lng), float(lat))
        for lng, lat in zip(rng.uniform(-180, 180, 3000), rng.uniform(-90, 90, 3000), strict=True)
    ]
    # Around the US zone borders, where the shortcut cells hold several zones.
    borders = [
        (float(lng), float(lat))
        for lng, lat in zip(rng.uniform(-125, -67, 2000), rng.uniform(25, 49, 2000), strict=True)
    ]
    points = world + borders + _synthea_points()
    assert len(points) > 5_050
    lazy, library = LazyTimezoneFinder(), TimezoneFinder()
    answers = [
        (lazy.timezone_at(lng=x, lat=y), library.timezone_at(lng=x, lat=y)) for x, y in points
    ]
    assert [pair for pair in answers if pair[0] != pair[1]] == []
    assert len({zone for zone, _ in answers}) > 50


def test_every_shortcut_entry_is_found_with_its_value() -> None:
    lazy, library = LazyTimezoneFinder(), TimezoneFinder()
    for hex_id, value in library.shortcut_mapping.items():
        found = lazy.shortcut_mapping.get(hex_id)
        if isinstance(value, int):
            assert found == value
        else:
            assert np.array_equal(found, value)
    assert lazy.shortcut_mapping.get(12345) is None
