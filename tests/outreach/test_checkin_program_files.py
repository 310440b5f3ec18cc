"""A portal view with a waiting check-in reads the journey files only when one changed: an
edited journey is asked on the next view, an unchanged one is not compiled again."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest
from tests.outreach.conftest import make_patient

from careloop.clock import FrozenClock
from careloop.models import Enrollment
from careloop.outreach import service
from careloop.outreach.checkin_invitations import checkin_invitations
from careloop.outreach.config import OutreachSettings
from careloop.runtime import Runtime

JOURNEY = """name: site-checkin
purpose: care-reminders
steps:
  - id: ask
    message: symptom_checkin
    questionnaire: {questionnaire}
"""


def _write(folder: Path, questionnaire: str, *, mtime_ns: int) -> None:
    path = folder / "site-checkin.yaml"
    path.write_text(JOURNEY.format(questionnaire=questionnaire), encoding="utf-8")
    os.utime(path, ns=(mtime_ns, mtime_ns))


def _asked(rt: Runtime, settings: OutreachSettings) -> list[str]:
    with rt.transaction() as session:
        found = checkin_invitations(session, settings=settings, patient_id="pc")
    return [invitation.questionnaire for invitation in found]


def test_an_edited_journey_file_is_seen_and_an_unchanged_one_is_not_read_again(
    rt: Runtime, clock: FrozenClock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_patient(rt, patient_id="pc")
    sent = clock.now() - timedelta(hours=1)
    with rt.transaction() as session:
        session.add(
            Enrollment(
                patient_id="pc",
                program="site-checkin",
                episode="2026",
                arm="outreach",
                state="contacted",
                next_step=1,
                last_step_at=sent,
                enrolled_at=sent,
                state_changed_at=sent,
            )
        )
    settings = OutreachSettings(programs_dir=str(tmp_path))
    reads: list[int] = []
    real = service.journey_files

    def counted(own: OutreachSettings) -> dict[str, dict[str, object]]:
        reads.append(1)
        return real(own)

    monkeypatch.setattr(service, "journey_files", counted)

    _write(tmp_path, "symptoms-v1", mtime_ns=1_700_000_000_000_000_000)
    first = _asked(rt, settings)
    again = _asked(rt, settings)
    _write(tmp_path, "symptoms-v2", mtime_ns=1_700_000_060_000_000_000)  # same size, later
    edited = _asked(rt, settings)

    assert first == ["symptoms-v1"]
    assert again == ["symptoms-v1"]
    assert edited == ["symptoms-v2"]
    assert len(reads) == 2  # the first view and the one after the edit
