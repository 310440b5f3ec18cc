"""Factories for engine tests: snapshots and programs with keyword-only arguments."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from careloop.personalize.profile import QuietHours, StatedPreferences
from careloop.personalize.snapshot import PatientSnapshot, ProgramSpec

ALL_CHANNELS = frozenset({"sms", "email", "voice", "portal"})


def make_snapshot(
    *,
    patient_id: str = "p-1",
    timezone: str = "America/New_York",
    language: str = "en-US",
    consented: frozenset[str] = ALL_CHANNELS,
    contacts: frozenset[str] = ALL_CHANNELS,
    quiet: QuietHours | None = None,
    deceased: bool = False,
    opted_out: bool = False,
    recent: tuple[datetime, ...] = (),
    covariates: dict[str, Any] | None = None,
    stated_channel: str | None = None,
    pronoun: str = "she",
) -> PatientSnapshot:
    return PatientSnapshot(
        patient_id=patient_id,
        timezone=timezone,
        language=language,
        consented_channels={"care-gap": consented},
        contact_channels=contacts,
        covariates=covariates or {"age": 60, "has_mobile": True},
        stated=StatedPreferences(quiet_hours=quiet, channel=stated_channel),
        deceased=deceased,
        opted_out=opted_out,
        recent_contacts=recent,
        pronoun=pronoun,
    )


PROGRAM = ProgramSpec(name="flu-shot", purpose="care-gap")
