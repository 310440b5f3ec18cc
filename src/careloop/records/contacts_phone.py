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
LANDLINE = "landline"
UNREADABLE = "not readable as a phone number"
# FHIR ContactPoint.use values that name a line a text cannot be trusted to reach, in words
# that complete "this number is ...".
_UNTEXTABLE_USES = {"home": "a home line", "work": "a work line", "old": "an old number"}
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


def why_not_textable(point: Mapping[str, Any]) -> str | None:
    """Why a text may not go to ``point``, in words that complete "this number is ..."
    (None: it may). The one rule for every sender of a text: outreach's address choice,
    portal enrolment and sign-in codes, staff messages, invitations.

    A home or work line may be a landline, and an old number may be someone else's now;
    a number the line-type look-up found to be a landline cannot take a text whatever the
    record's ``use`` says; a number that could not be read is never dialled."""
    if point.get("system") not in PHONE_SYSTEMS or not point.get("value"):
        return "not a phone number"
    refused = _UNTEXTABLE_USES.get(str(point.get("use") or ""))
    if refused is not None:
        return refused
    if point.get("dialable") is False:
        return UNREADABLE
    if point.get("line_type") == LANDLINE:
        return "a landline (the phone company's line-type look-up says so)"
    return None


def textable(point: Mapping[str, Any]) -> bool:
    """May a text be addressed to this contact point (:func:`why_not_textable`)."""
    return why_not_textable(point) is None
