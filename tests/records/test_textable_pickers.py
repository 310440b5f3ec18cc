"""No picker of a number to text ever picks one a text cannot reach (issue 15, item 1).

Outreach's address choice (every workflow's texts and caregivers' copies go through it), the
console's portal invitation and portal enrolment and sign-in all ask one rule,
``records.contacts_phone.textable``; the property checks each of them, across random telecom
lists, against the rule written out here from FHIR's words.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from careloop.errors import InvalidInput
from careloop.governance.portal import _why_not_texted, matching_points
from careloop.outreach.audience import address_for
from careloop.records.contacts_phone import textable, why_not_textable
from careloop.records.schemas import ContactPoint
from careloop.web.console.invite import _address

NUMBERS = ("+15550100141", "+15550100142", "+15550100143")


def could_take_a_text(point: dict[str, Any]) -> bool:
    """FHIR's words: a phone (or sms) number, not a home, work or old line, not a landline
    by the look-up, readable."""
    return (
        point.get("system") in ("phone", "sms")
        and bool(point.get("value"))
        and point.get("use") not in ("home", "work", "old")
        and point.get("line_type") != "landline"
        and point.get("dialable") is not False
    )


points = st.lists(
    st.fixed_dictionaries(
        {
            "system": st.sampled_from(["phone", "sms", "email", "fax"]),
            "value": st.sampled_from(NUMBERS),
        },
        optional={
            "use": st.sampled_from(["home", "work", "temp", "old", "mobile"]),
            "rank": st.integers(min_value=1, max_value=3),
            "dialable": st.booleans(),
            "line_type": st.sampled_from(["mobile", "landline", "voip"]),
        },
    ),
    max_size=5,
)


def _textable_numbers(telecom: list[dict[str, Any]]) -> set[str]:
    return {str(p["value"]) for p in telecom if could_take_a_text(p)}


@given(telecom=points)
def test_the_rule_is_fhirs_words(telecom: list[dict[str, Any]]) -> None:
    for point in telecom:
        assert textable(point) is could_take_a_text(point)
        assert (why_not_textable(point) is None) is could_take_a_text(point)


@given(telecom=points)
def test_outreach_texts_only_a_number_that_can_take_a_text(telecom: list[dict[str, Any]]) -> None:
    chosen = address_for(telecom, "sms", patient_id="p")
    assert (chosen is None) is not _textable_numbers(telecom)
    assert chosen is None or chosen in _textable_numbers(telecom)


@given(telecom=points)
def test_the_console_invite_texts_only_a_number_that_can_take_a_text(
    telecom: list[dict[str, Any]],
) -> None:
    chosen = _address([ContactPoint(**p) for p in telecom], "sms")
    assert chosen is None or chosen in _textable_numbers(telecom)


@given(telecom=points, number=st.sampled_from(NUMBERS))
def test_portal_enrols_and_texts_codes_only_to_a_number_that_can_take_a_text(
    telecom: list[dict[str, Any]], number: str
) -> None:
    try:
        allowed = _why_not_texted(matching_points(telecom, "sms", number)) is None
    except InvalidInput:
        allowed = False
    assert allowed is (number in _textable_numbers(telecom))
