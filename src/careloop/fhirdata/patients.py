"""What a Patient resource says about the person: the language they asked for, where home is.

Segments, demographics, the interpreter flag, time zones and the slot finder each read these
fields; one reading keeps them agreeing (the same ``communication`` entry wins everywhere).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from careloop.fhirdata.codings import codings

GEOLOCATION_EXTENSION = "http://hl7.org/fhir/StructureDefinition/geolocation"


def preferred_communication(patient: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The ``communication`` entry marked preferred, else the first one, else None."""
    comms = [c for c in patient.get("communication") or [] if isinstance(c, Mapping)]
    return next((c for c in comms if c.get("preferred")), comms[0] if comms else None)


def preferred_language(patient: Mapping[str, Any]) -> str | None:
    """The first language code of :func:`preferred_communication`, as written ("es-MX")."""
    chosen = preferred_communication(patient)
    if chosen is None:
        return None
    return next((code for _, code in codings(chosen.get("language"))), None)


def geolocation(address: Mapping[str, Any] | None) -> tuple[float, float] | None:
    """(latitude, longitude) from an Address's geolocation extension (Synthea writes it)."""
    for ext in (address or {}).get("extension") or []:
        if isinstance(ext, Mapping) and ext.get("url") == GEOLOCATION_EXTENSION:
            values = {e.get("url"): e.get("valueDecimal") for e in ext.get("extension") or []}
            lat, lng = values.get("latitude"), values.get("longitude")
            if isinstance(lat, int | float) and isinstance(lng, int | float):
                return float(lat), float(lng)
    return None
