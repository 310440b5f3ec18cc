"""A patient's time zone: from the FHIR timezone extension, else the address, else a default.

The address is resolved offline: by its geolocation extension (``timezonefinder`` ships its
boundary data), else by US state. Nothing is fetched from the network.
"""

from __future__ import annotations

import atexit
import threading
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from careloop.fhirdata.patients import geolocation

TIMEZONE_EXTENSION = "http://hl7.org/fhir/StructureDefinition/timezone"

# Most populous zone of each US state (states spanning two zones take the larger).
_US_STATE_ZONES = {
    "AL": "America/Chicago", "AK": "America/Anchorage", "AZ": "America/Phoenix",
    "AR": "America/Chicago", "CA": "America/Los_Angeles", "CO": "America/Denver",
    "CT": "America/New_York", "DE": "America/New_York", "DC": "America/New_York",
    "FL": "America/New_York", "GA": "America/New_York", "HI": "Pacific/Honolulu",
    "ID": "America/Boise", "IL": "America/Chicago", "IN": "America/Indiana/Indianapolis",
    "IA": "America/Chicago", "KS": "America/Chicago", "KY": "America/New_York",
    "LA": "America/Chicago", "ME": "America/New_York", "MD": "America/New_York",
    "MA": "America/New_York", "MI": "America/Detroit", "MN": "America/Chicago",
    "MS": "America/Chicago", "MO": "America/Chicago", "MT": "America/Denver",
    "NE": "America/Chicago", "NV": "America/Los_Angeles", "NH": "America/New_York",
    "NJ": "America/New_York", "NM": "America/Denver", "NY": "America/New_York",
    "NC": "America/New_York", "ND": "America/Chicago", "OH": "America/New_York",
    "OK": "America/Chicago", "OR": "America/Los_Angeles", "PA": "America/New_York",
    "RI": "America/New_York", "SC": "America/New_York", "SD": "America/Chicago",
    "TN": "America/Chicago", "TX": "America/Chicago", "UT": "America/Denver",
    "VT": "America/New_York", "VA": "America/New_York", "WA": "America/Los_Angeles",
    "WV": "America/New_York", "WI": "America/Chicago", "WY": "America/Denver",
    "PR": "America/Puerto_Rico",
}  # fmt: skip
_US_STATE_NAMES = {
    "alabama": "AL", "alaska": "AK", "arizona": "AZ", "arkansas": "AR", "california": "CA",
    "colorado": "CO", "connecticut": "CT", "delaware": "DE", "district of columbia": "DC",
    "florida": "FL", "georgia": "GA", "hawaii": "HI", "idaho": "ID", "illinois": "IL",
    "indiana": "IN", "iowa": "IA", "kansas": "KS", "kentucky": "KY", "louisiana": "LA",
    "maine": "ME", "maryland": "MD", "massachusetts": "MA", "michigan": "MI",
    "minnesota": "MN", "mississippi": "MS", "missouri": "MO", "montana": "MT",
    "nebraska": "NE", "nevada": "NV", "new hampshire": "NH", "new jersey": "NJ",
    "new mexico": "NM", "new york": "NY", "north carolina": "NC", "north dakota": "ND",
    "ohio": "OH", "oklahoma": "OK", "oregon": "OR", "pennsylvania": "PA",
    "rhode island": "RI", "south carolina": "SC", "south dakota": "SD", "tennessee": "TN",
    "texas": "TX", "utah": "UT", "vermont": "VT", "virginia": "VA", "washington": "WA",
    "west virginia": "WV", "wisconsin": "WI", "wyoming": "WY", "puerto rico": "PR",
}  # fmt: skip


def is_valid_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


_LOADING = threading.Lock()


def _finder() -> Any:
    """The finder, loaded once: a caller while another thread loads it (the importer's, beside
    its first batch) waits for that load instead of making its own."""
    with _LOADING:
        return _loaded_finder()


@lru_cache(maxsize=1)
def _loaded_finder() -> Any:
    from careloop.records import tz_point_in_polygon

    tz_point_in_polygon.install()  # before the library's import: no cffi C parser
    from careloop.records.tz_finder import LazyTimezoneFinder

    # Released before the interpreter tears its modules down: timezonefinder's finalizers
    # call its own module's helpers, which are gone by then, and every command that had
    # read an address ended with a traceback on stderr ("Exception ignored in ...").
    atexit.register(_loaded_finder.cache_clear)
    return LazyTimezoneFinder()


def load_finder() -> None:
    """Load the time-zone boundaries now (parser processes forked later share them)."""
    _finder()


def _extension(items: Any, url: str) -> dict[str, Any] | None:
    for ext in items or []:
        if isinstance(ext, dict) and ext.get("url") == url:
            return ext
    return None


def _from_geolocation(address: dict[str, Any]) -> str | None:
    position = geolocation(address)
    if position is None:
        return None
    lat, lng = position
    zone: str | None = _finder().timezone_at(lng=lng, lat=lat)
    return zone


def _from_state(address: dict[str, Any]) -> str | None:
    state = address.get("state")
    country = (address.get("country") or "US").upper()
    if not isinstance(state, str) or country not in {"US", "USA", "UNITED STATES"}:
        return None
    code = state.upper() if len(state) == 2 else _US_STATE_NAMES.get(state.strip().lower())
    return _US_STATE_ZONES.get(code or "")


def resolve_timezone(patient: dict[str, Any], *, default: str) -> tuple[str, str]:
    """(zone, source) where source is ``extension``, ``geolocation``, ``address`` or ``default``."""
    ext = _extension(patient.get("extension"), TIMEZONE_EXTENSION)
    if ext and isinstance(ext.get("valueCode"), str) and is_valid_zone(ext["valueCode"]):
        return ext["valueCode"], "extension"
    for address in patient.get("address") or []:
        if not isinstance(address, dict):
            continue
        zone = _from_geolocation(address)
        if zone:
            return zone, "geolocation"
        zone = _from_state(address)
        if zone:
            return zone, "address"
    return default, "default"
