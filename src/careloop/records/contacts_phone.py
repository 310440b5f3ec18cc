"""Phone numbers as gateways take them: E.164, parsed by ``phonenumbers`` (Google's
libphonenumber), never by hand.

The EHR writes ``(617) 555-0199``; Twilio accepts only ``+16175550199``. A national number
is read in the patient's region (the country of their home address, else the configured
default). The original text is kept as ``display``; a number that cannot be read is kept for
display with ``dialable: false``, reported by the importer and never dialled.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import phonenumbers

DEFAULT_REGION = "US"
PHONE_SYSTEMS = frozenset({"phone", "sms"})
_COUNTRY_NAMES = {"usa": "US", "united states": "US", "united states of america": "US"}


def region_of(address: Mapping[str, Any] | None, *, default: str = DEFAULT_REGION) -> str:
    """The ISO 3166 region a national number is read in: the address's country, else
    ``default``."""
    country = str((address or {}).get("country") or "").strip()
    if len(country) == 2 and country.isalpha():
        return country.upper()
    return _COUNTRY_NAMES.get(country.lower(), default)


def to_e164(value: str, *, region: str = DEFAULT_REGION) -> str | None:
    """``+<country><number>``, or ``None`` when ``value`` is not a possible phone number."""
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


def normalise_points(
    points: Iterable[Mapping[str, Any]], *, region: str = DEFAULT_REGION
) -> list[dict[str, Any]]:
    """Contact points with phones in E.164 (``display`` keeps what the record said)."""
    out: list[dict[str, Any]] = []
    for point in points:
        row = dict(point)
        if row.get("system") in PHONE_SYSTEMS and row.get("value"):
            original = str(row.get("display") or row["value"])
            number = to_e164(str(row["value"]), region=region)
            row["display"] = original
            if number is None:
                row["dialable"] = False
            else:
                row["value"] = number
                row.pop("dialable", None)
        out.append(row)
    return out


def undialable(points: Iterable[Mapping[str, Any]]) -> int:
    """How many phone numbers could not be read (the importer reports the count, not them)."""
    return sum(1 for p in points if p.get("system") in PHONE_SYSTEMS and p.get("dialable") is False)
