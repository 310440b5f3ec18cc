"""``careloop send`` refusals name an unreadable number as unreadable, not as "none on file".

A patient with a home phone and a mobile number that could not be read (``call the daughter``)
is refused a text with "the patient has no mobile number on file" (the nurse sees a mobile number
in the record); a patient whose only phone could not be read is refused a call with "the patient
has no phone number on file" (the nurse sees a phone number in the record).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.outreach.test_send_landline_words import _import, _send, weekday_morning  # noqa: F401

UNREADABLE = (
    "the patient's phone number on file could not be read as a phone number, so it is never"
    " texted or dialled; correct it in the record"
)


@pytest.mark.usefixtures("weekday_morning")
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_an_unreadable_mobile_beside_a_home_phone_is_named_unreadable(
    database_url: str, tmp_path: Path
) -> None:
    _import(
        tmp_path,
        database_url,
        [
            {"system": "phone", "value": "(617) 555-0100", "use": "home"},
            {"system": "phone", "value": "call the daughter", "use": "mobile"},
        ],
    )

    code, said = _send(database_url)

    assert code == 2
    assert UNREADABLE in said, said
    assert "no mobile number on file" not in said


@pytest.mark.usefixtures("weekday_morning")
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_call_to_an_unreadable_number_is_not_told_as_no_phone(
    database_url: str, tmp_path: Path
) -> None:
    _import(
        tmp_path,
        database_url,
        [
            {"system": "phone", "value": "call the daughter", "use": "mobile"},
            {"system": "email", "value": "ana@example.org"},
        ],
    )

    code, said = _send(database_url, "voice")

    assert code == 2
    assert UNREADABLE in said, said
    assert "no phone number on file" not in said
