"""Finding 22: timeline lines say only what is known ("Sent by sms (—, step None)" and
"score None" read as faults to a nurse)."""

from __future__ import annotations

from datetime import UTC, datetime

from careloop.channels.messages import ChannelKind, a_reply_by
from careloop.models import Event
from careloop.web.console.patient_context import describe

AT = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)


def _event(kind: str, payload: dict[str, object], program: str | None = None) -> Event:
    return Event(kind=kind, payload=payload, program=program, occurred_at=AT)


def test_a_message_sent_outside_a_program_has_no_empty_brackets() -> None:
    assert describe(_event("sent", {"channel": "sms", "step": None})) == "Sent by text message"
    assert (
        describe(_event("sent", {"channel": "sms", "step": 2}, program="flu-shot-this-season"))
        == "Sent by text message (Flu shot this season, step 2)"
    )


def test_a_check_in_without_a_score_does_not_say_score_none() -> None:
    unscored = {"instrument": "motivation", "answered": 3, "total": None}
    assert describe(_event("checkin_submitted", unscored)) == "Check-in motivation: 3 answers"
    scored = {"instrument": "PHQ-9", "answered": 9, "total": 12}
    assert describe(_event("checkin_submitted", scored)) == "Check-in PHQ-9: 9 answers, score 12"


def test_a_reply_by_sms_reads_as_english() -> None:
    """Finding 22: "A sms reply needs a person"."""
    assert a_reply_by(ChannelKind.SMS) == "An SMS reply"
    assert a_reply_by("voice") == "A voice reply"
