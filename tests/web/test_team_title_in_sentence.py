"""A team title the site configured reads as written inside a sentence ("escalated to the
Spanish interpreters lead", "the Oncology Nursing lead"): only a title careloop derived from
the team's slug comes down to sentence case."""

from __future__ import annotations

from careloop.careteam.assignees import in_words
from careloop.settings import Settings, TeamSettings


def test_a_configured_title_keeps_its_proper_names_and_its_own_case_in_a_sentence() -> None:
    settings = Settings(
        teams=[
            TeamSettings(name="interpreters", title="Spanish interpreters"),
            TeamSettings(name="boston", title="Boston Children's nursing"),
            TeamSettings(name="onc", title="Oncology Nursing"),
        ]
    )
    said = [
        in_words(f"lead:{name}", {}, teams=settings.team_title)
        for name in ("interpreters", "boston", "onc")
    ]
    assert said == [
        "the Spanish interpreters lead",
        "the Boston Children's nursing lead",
        "the Oncology Nursing lead",
    ]
