"""What a nurse reads on the console: words, not codes (found using the demo console).

Channels read "Text message", consent "Allowed since 2 Mar", the learned line is a sentence
(or nothing when there is no evidence), teams go by their names, a message typed during the
patient's night says when it will really go out, and a site's own program has its title.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from careloop.careteam import alerts
from careloop.careteam.assignees import in_words
from careloop.feedback.ruleset import Severity
from careloop.governance.consent import record_consent
from careloop.models import Event, User
from careloop.outreach.config import OutreachSettings
from careloop.outreach.messages import queue_staff_message
from careloop.outreach.titles import program_title
from careloop.runtime import Runtime
from careloop.settings import Settings, TeamSettings, in_sentence, title_from_name
from careloop.web.console.demo_users import seed_demo_users
from careloop.web.console.patient_context import describe
from careloop.web.console.words import learned_sentences
from tests.access.fhir_fixtures import import_resources, patient

ApiClient = Callable[..., Any]


def _task(rt: Runtime, *, team: str, program: str | None = None) -> None:
    with rt.transaction() as session:
        alerts.create_task(
            session,
            patient_id="p-001",
            rule_id="nurse-words",
            title="Check on the patient",
            summary="A test task.",
            severity=Severity.HIGH,
            clock=rt.clock,
            actor="system:test",
            team=team,
            program=program,
        )


def test_the_patient_page_names_channels_and_consent_in_words(
    rt: Runtime, tmp_path: Path, api_client: ApiClient
) -> None:
    import_resources(rt, tmp_path, [patient("p-001")])
    with rt.transaction() as session:
        record_consent(
            session,
            patient_id="p-001",
            purpose="surveys",
            channel="sms",
            status="granted",
            source="staff",
            actor="user:1",
            now=rt.clock.now(),
        )

    page = api_client("clinician").get("/console/patients/p-001")

    assert page.status_code == 200, page.text
    consent = page.text.split('data-testid="consent"')[1].split("</table>")[0]
    assert '<th scope="col">Text message</th>' in consent
    assert '<th scope="col">Patient portal</th>' in consent
    assert "Allowed since 2 Mar" in consent
    assert ">no<" not in consent
    assert ">yes<" not in consent
    assert '<option value="sms">Text message</option>' in page.text
    assert '<option value="portal">Patient portal</option>' in page.text
    assert '<option value="email">Email</option>' in page.text
    assert "channel: sms" not in page.text


def test_the_learned_line_is_a_sentence_and_says_nothing_without_evidence() -> None:
    nothing = {"channel": {"sms": {"sent": 0, "responded": 0}}}
    some = {
        "channel": {"sms": {"sent": 5, "responded": 3}, "email": {"sent": 0, "responded": 0}},
        "send_window": {"17-20": {"sent": 1, "responded": 1}},
    }

    assert learned_sentences(nothing) == []
    assert learned_sentences(some) == [
        "Has answered 3 of 5 texts so far.",
        "Has answered 1 of 1 message sent in the evening so far.",
    ]


def test_teams_are_shown_by_their_names_on_the_worklist(
    rt: Runtime, tmp_path: Path, api_client: ApiClient
) -> None:
    import_resources(rt, tmp_path, [patient("p-001")])
    _task(rt, team="oncology-nursing")

    page = api_client("clinician").get("/console/worklist")

    assert page.status_code == 200, page.text
    assert '<option value="oncology-nursing">Oncology nursing</option>' in page.text
    assert '<span class="muted" title="oncology-nursing">Oncology nursing</span>' in page.text
    assert "the oncology nursing lead" in page.text
    assert ">oncology-nursing<" not in page.text


def test_a_team_without_a_configured_title_reads_as_words() -> None:
    settings = Settings(teams=[TeamSettings(name="wound-care", title="Wound clinic")])
    assert settings.team_title("wound-care") == "Wound clinic"
    assert settings.team_title("rpm-nursing") == "Remote monitoring nursing"


def test_a_team_inside_a_sentence_reads_in_sentence_case() -> None:
    """A heading says "Oncology nursing"; a sentence says "with the oncology nursing lead"
    (a capital mid-sentence read as a name), keeping an abbreviation's or a name's capitals."""
    settings = Settings(
        teams=[
            TeamSettings(name="wound-care", title="Wound clinic"),
            TeamSettings(name="icu", title="ICU nursing"),
            TeamSettings(name="lee", title="Dr. Lee's team"),
        ]
    )
    said = {
        name: in_words(f"lead:{name}", {}, teams=settings.team_title)
        for name in ("wound-care", "rpm-nursing", "icu", "lee", "care-team")
    }
    assert said == {
        "wound-care": "the Wound clinic lead",  # written by the site: kept as written
        "rpm-nursing": "the remote monitoring nursing lead",
        "icu": "the ICU nursing lead",
        "lee": "the Dr. Lee's team lead",
        "care-team": "the care team lead",
    }


def _typed_message(rt: Runtime, tmp_path: Path, *, zone: str) -> None:
    """A patient living in ``zone`` and a text a nurse typed for them at 14:00 UTC."""
    import_resources(rt, tmp_path, [patient("p-001", zone=zone)])
    with rt.transaction() as session:
        queue_staff_message(
            session,
            patient_id="p-001",
            body="Please call us.",
            channel="sms",
            clock=rt.clock,
            actor="user:1",
        )


def test_a_message_typed_in_the_patients_night_says_when_it_really_goes_out(
    rt: Runtime, tmp_path: Path, api_client: ApiClient
) -> None:
    # 14:00 UTC is 23:00 in Tokyo: inside the default quiet hours (21:00-08:00).
    _typed_message(rt, tmp_path, zone="Asia/Tokyo")

    page = api_client("clinician").get("/console/patients/p-001")

    assert page.status_code == 200, page.text
    assert "Queued — goes out at 08:00 (patient&#39;s morning)" in page.text
    assert "· Text message ·" in page.text


def test_a_message_in_the_patients_day_goes_out_now(
    rt: Runtime, tmp_path: Path, api_client: ApiClient
) -> None:
    _typed_message(rt, tmp_path, zone="America/New_York")  # 09:00 there

    page = api_client("clinician").get("/console/patients/p-001")

    assert "Queued — goes out now" in page.text


def test_the_demo_clinician_is_on_the_oncology_team(rt: Runtime) -> None:
    with rt.transaction() as session:
        seed_demo_users(session, rt.clock)
        seed_demo_users(session, rt.clock)  # a second run keeps them on it
        clinician = session.scalars(select(User).where(User.username == "demo-clinician")).one()
        teams = list(clinician.teams)

    assert "oncology-nursing" in teams
    assert len(teams) == len(set(teams))


def _site_program(folder: Path) -> Path:
    folder.mkdir()
    (folder / "site-own.yaml").write_text(
        "name: site-own\ntitle: Our own diabetes follow-up\npurpose: care-reminders\n"
        "steps:\n  - id: first\n    message: appointment_reminder_3d\n    wait: {days: 0}\n"
    )
    return folder


def test_a_sites_own_program_shows_its_title(tmp_path: Path) -> None:
    own = OutreachSettings(programs_dir=str(_site_program(tmp_path / "programs")))
    assert program_title("site-own", settings=own) == "Our own diabetes follow-up"


def test_the_worklist_names_a_sites_own_program_by_its_title(
    rt: Runtime, tmp_path: Path, api_client: ApiClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = _site_program(tmp_path / "programs")
    monkeypatch.setenv("CARELOOP_OUTREACH__PROGRAMS_DIR", str(folder))
    import_resources(rt, tmp_path / "records", [patient("p-001")])
    _task(rt, team="care-coordination", program="site-own")

    page = api_client("clinician").get("/console/worklist")

    assert page.status_code == 200, page.text
    assert ">Our own diabetes follow-up</option>" in page.text
    assert '<span title="site-own">Our own diabetes follow-up</span>' in page.text


def test_the_timeline_names_channels_in_words() -> None:
    at = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
    opted_out = Event(kind="opted_out", payload={"channel": "sms"}, occurred_at=at)
    sent = Event(kind="sent", payload={"channel": "voice"}, occurred_at=at)

    assert describe(opted_out) == "Opted out of texts"
    assert describe(sent) == "Sent by phone call"


def test_what_the_engine_learned_reads_as_english() -> None:
    """Articles, the midday window and framings in the engine's own words (the nurse read
    "written at a advanced reading level", "sent in the midday", "framed around social")."""
    factors = {
        "send_window": {"11-14": {"sent": 1, "responded": 1}},
        "reading_level": {
            "advanced": {"sent": 1, "responded": 0},
            "basic": {"sent": 2, "responded": 1},
        },
        "tone": {"formal": {"sent": 3, "responded": 1}},
        "framing": {"social": {"sent": 1, "responded": 0}, "loss": {"sent": 2, "responded": 2}},
    }

    assert learned_sentences(factors) == [
        "Has answered 1 of 1 message sent at midday so far.",
        "Has answered 0 of 1 message written at an advanced reading level so far.",
        "Has answered 1 of 2 messages written at a basic reading level so far.",
        "Has answered 1 of 3 messages in a formal tone so far.",
        "Has answered 0 of 1 message framed around family so far.",
        "Has answered 2 of 2 messages framed around avoiding health problems so far.",
    ]


@given(st.lists(st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=8), min_size=1))
def test_a_team_named_by_its_slug_reads_all_lower_case_inside_a_sentence(words: list[str]) -> None:
    """Whatever the slug, the sentence's words are the title's with only the first letter
    brought down: nothing else of a title changes."""
    title = title_from_name("-".join(words))
    said = in_sentence(title)
    assert said == title.lower()
    assert said[1:] == title[1:]
