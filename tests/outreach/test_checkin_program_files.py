"""The portal's check-in look-up reads the journey files only when one changed: an edited
journey is seen on the next view without a restart, an unchanged one is not read again."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from careloop.outreach import service
from careloop.outreach.config import OutreachSettings
from careloop.outreach.program_files import outreach_programs_by_name

JOURNEY = """name: site-checkin
purpose: care-reminders
steps:
  - id: ask
    message: symptom_checkin
    questionnaire: {questionnaire}
"""


def _save(folder: Path, questionnaire: str, *, mtime_ns: int) -> None:
    path = folder / "site-checkin.yaml"
    path.write_text(JOURNEY.format(questionnaire=questionnaire), encoding="utf-8")
    os.utime(path, ns=(mtime_ns, mtime_ns))


def _asked(settings: OutreachSettings) -> list[str | None]:
    return [
        step.questionnaire for step in outreach_programs_by_name(settings)["site-checkin"].steps
    ]


def test_an_edited_journey_file_is_seen_and_an_unchanged_one_is_not_read_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = OutreachSettings(programs_dir=str(tmp_path))
    reads: list[Path] = []
    real = service.journey_files

    def counted(own: OutreachSettings) -> dict[str, dict[str, object]]:
        reads.append(Path(str(own.programs_dir)))
        return real(own)

    monkeypatch.setattr(service, "journey_files", counted)

    _save(tmp_path, "symptoms-v1", mtime_ns=1_700_000_000_000_000_000)
    first, again = _asked(settings), _asked(settings)
    _save(tmp_path, "symptoms-v2", mtime_ns=1_700_000_060_000_000_000)  # same size, saved later
    edited = _asked(settings)
    (tmp_path / "site-checkin.yaml").unlink()
    removed = "site-checkin" in outreach_programs_by_name(settings)

    assert (first, again, edited) == (["symptoms-v1"], ["symptoms-v1"], ["symptoms-v2"])
    assert removed is False
    assert reads == [tmp_path] * 3  # the first view, the one after the edit, after the removal
