"""The win-back message leads with the help that answers the patient's likely reason (issue 25).

The reason comes from the record's gap and the codes of the patient's replies; the message
names only the help (a ride, costs, evening and video visits, a new time), never the reason.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from test_win_back_replies import _lapsed_patients_who_replied
from test_win_back_retention import _former_patients

from careloop.clock import FrozenClock
from careloop.compose.outreach import run_tick, tick_context
from careloop.content.compose import render_variant
from careloop.content.library import VariantKey, load_library
from careloop.content.lint import lint_library, sample_fields
from careloop.content.vocab import Channel, ReadingLevel, Tone
from careloop.models import Enrollment
from careloop.outreach.config import outreach_settings
from careloop.outreach.eligibility import ProgramsEligibility
from careloop.outreach.service import load_outreach_programs
from careloop.programs.reply_reasons import help_offer
from careloop.runtime import Runtime

OFFERS = ("ride", "cost", "hours", "new-time", "general")
RIDE = {"en": "We can arrange a ride to your visit.", "es": "Le podemos dar transporte a su cita."}
GENERIC = {"en": "It has been a while since your last visit.", "es": "Hace tiempo de su ultima"}


def test_help_answers_the_latest_reply_before_the_record() -> None:
    assert help_offer("transportation_need") == "ride"
    assert help_offer("missed_appointment") == "new-time"
    assert help_offer("chronic_care_overdue") == "general"
    assert help_offer("no_visit_12_months") == "general"
    assert help_offer("no_visit_12_months", ["transportation"]) == "ride"
    assert help_offer("missed_appointment", ["cost", "transportation"]) == "cost"
    assert help_offer(None, ["caregiving"]) == help_offer(None, ["time"]) == "hours"
    assert help_offer(None, ["asked-to-reschedule"]) == "new-time"
    assert help_offer("no_visit_12_months", ["feels-well", "opted-out"]) == "general"


def test_enrolment_carries_the_help_for_the_record_gap(rt: Runtime, tmp_path: Path) -> None:
    _former_patients(rt, tmp_path)
    own, _ = outreach_settings(rt.settings)
    programs = load_outreach_programs(own, names=["win-back-lapsed"])
    run_tick(rt, ctx=tick_context(rt, programs=programs))
    with rt.transaction() as session:
        rows = session.execute(
            select(Enrollment.patient_id, Enrollment.fields).where(
                Enrollment.program == "win-back-lapsed"
            )
        ).all()
    assert {pid: fields.get("help_offer") for pid, fields in rows} == {
        "noshow": "new-time",
        "ride": "ride",
        "sugar": "general",
        "quiet": "general",
    }


def test_a_ride_named_in_a_reply_leads_to_the_ride(
    rt: Runtime, clock: FrozenClock, tmp_path: Path
) -> None:
    _lapsed_patients_who_replied(rt, clock, tmp_path)
    own, _ = outreach_settings(rt.settings)
    (program,) = load_outreach_programs(own, names=["win-back-lapsed"])
    with rt.transaction() as session:
        found = ProgramsEligibility()(session, program=program, now=clock.now())
    # p-001 missed a visit (the record's gap) and wrote last that she has no ride.
    assert {c.patient_id: dict(c.fields) for c in found} == {
        "p-001": {"help_offer": "ride"},
        "p-002": {"help_offer": "general"},
    }


def _sms(language: str, offer: str, level: ReadingLevel = ReadingLevel.STANDARD) -> str:
    library = load_library()
    fields, locale, timezone = sample_fields(library, language)
    key = VariantKey("win_back_invite", language, level, Tone.FORMAL, Channel.SMS)
    variant = library.get(key)
    assert variant is not None
    rendered = render_variant(
        variant, fields={**fields, "help_offer": offer}, locale=locale, timezone=timezone
    )
    return rendered["body"].split(": ", 1)[1]  # after "Riverside Clinic: "


@pytest.mark.parametrize("language", ["en", "es"])
def test_the_sms_leads_with_the_ride_or_the_generic_words(language: str) -> None:
    assert _sms(language, "ride").startswith(RIDE[language])
    assert _sms(language, "general").startswith(GENERIC[language])
    for offer in OFFERS:
        assert "transportation" not in _sms(language, offer).lower()  # the help, not the reason


@pytest.mark.parametrize("offer", OFFERS)
def test_every_help_passes_the_lint_in_every_language(offer: str) -> None:
    library = load_library()
    library.samples["fields"]["help_offer"] = offer
    reports = [r for r in lint_library(library) if r.message == "win_back_invite"]
    assert reports
    assert [r for r in reports if not r.ok] == []
    assert all(r.segments <= 2 for r in reports if r.channel == "sms" and r.segments)


def test_the_night_enrols_with_the_help_the_tick_gives(rt: Runtime, tmp_path: Path) -> None:
    """Where the nightly cycle identifies care gaps (the tick leaves them to it once
    ``nightly_at`` is set), its enrolments carry the same ``help_offer`` as the tick's: the
    night's slice dropped it and every patient it enrolled got the generic words."""
    from careloop.compose.nightly import run_slice
    from careloop.records.service import patient_ids

    _former_patients(rt, tmp_path)
    with rt.transaction() as session:
        ids = patient_ids(session)
    run_slice(rt, patient_ids=ids, now=rt.clock.now())
    with rt.transaction() as session:
        rows = session.execute(
            select(Enrollment.patient_id, Enrollment.fields).where(
                Enrollment.program == "win-back-lapsed"
            )
        ).all()
    offers = {pid: (fields or {}).get("help_offer") for pid, fields in rows}
    assert offers["noshow"] == "new-time"
    assert offers["ride"] == "ride"
