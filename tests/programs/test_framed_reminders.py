"""A stated motivation reaches the patient: the mammogram reminder framed in their words."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from tests.digitaltools.tools_fixtures import (
    consent_and_content,
    import_patients,
    reachable_patient,
)
from tests.programs.test_motivation_segments import motivation_response

from careloop.careteam.intake import receive_questionnaire_response
from careloop.compose.outreach import run_tick, tick_context
from careloop.models import ContentVersion, OutboxMessage
from careloop.models.personalize import DecisionRow
from careloop.outreach.config import outreach_settings
from careloop.outreach.service import load_outreach_programs
from careloop.runtime import Runtime
from careloop.security.principal import SYSTEM_WORKER


def test_women_who_said_family_matters_most_get_the_family_framed_reminder(
    rt: Runtime, tmp_path: Path
) -> None:
    ids = [f"w{i:02d}" for i in range(12)]
    import_patients(
        rt,
        tmp_path,
        [
            [
                reachable_patient(
                    pid, phone=f"+1555010{i:04d}", language="es-US" if i % 2 else "en-US"
                )
            ]
            for i, pid in enumerate(ids)
        ],
    )
    consent_and_content(rt, ids)
    with rt.transaction() as session:
        for pid in ids:
            answers = motivation_response(pid, ("family", "family", "convenience"), rt.clock.now())
            receive_questionnaire_response(
                session, answers, clock=rt.clock, principal=SYSTEM_WORKER, source="portal",
                channel="portal",
            )  # fmt: skip
    own, _ = outreach_settings(rt.settings)
    programs = load_outreach_programs(own, names=["breast-cancer-screening"])
    run_tick(rt, ctx=tick_context(rt, programs=programs))

    with rt.transaction() as session:
        decisions = {
            d.id: d
            for d in session.scalars(
                select(DecisionRow).where(DecisionRow.program == "breast-cancer-screening")
            )
        }
        sent = session.scalars(select(OutboxMessage)).all()
        versions = {v.id: v.message for v in session.scalars(select(ContentVersion))}
        detailed = [  # e-mail and portal carry the words; texts and calls stay generic
            (versions[m.content_version_id], decisions[m.decision_id].framing)
            for m in sent
            if m.decision_id in decisions and m.channel in ("email", "portal")
        ]

    framings = [d.framing for d in decisions.values()]
    assert len(framings) >= 8  # the rest are the holdout
    assert framings.count("social") >= 0.8 * len(framings)  # the odd one explores
    for d in decisions.values():  # the stated reason, unless this draw explored the framing
        if d.framing != "social":
            continue
        stated = "framed around family because she said family matters most" in d.explanation
        trying = "framed around family because trying it to learn what moves her" in d.explanation
        assert stated or (d.explored and trying), d.explanation
    assert sum(
        "because she said family matters most" in d.explanation for d in decisions.values()
    ) >= 0.7 * len(framings)
    assert detailed
    for used, framing in detailed:  # the exact stored text that went out
        assert used == ("mammogram_due" if framing == "plain" else f"mammogram_due_{framing}")
