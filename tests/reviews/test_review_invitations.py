"""Every patient is invited to review after a visit, the unhappy one too (no review gating);
a low satisfaction score also opens a service-recovery task. Both databases."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from careloop.careteam.intake import receive_questionnaire_response
from careloop.careteam.worklist import list_worklist
from careloop.clock import FrozenClock
from careloop.models import OutboxMessage
from careloop.reviews.service import invite_after_visits
from careloop.runtime import Runtime
from careloop.security.principal import SYSTEM_WORKER
from careloop.settings import ReviewsSettings, Settings
from tests.digitaltools.tools_fixtures import (
    consent_and_content,
    import_patients,
    reachable_patient,
)
from tests.feedback.loop_payloads import touchpoint

SITE = "https://g.page/r/riverside-clinic/review"


def _visit(pid: str, start: datetime, *, minutes: int = 30) -> dict[str, Any]:
    return {
        "resourceType": "Encounter",
        "id": f"visit-{pid}-{start:%m%d}",
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
        "subject": {"reference": f"Patient/{pid}"},
        "period": {
            "start": start.isoformat(),
            "end": (start + timedelta(minutes=minutes)).isoformat(),
        },
    }


def _settings(rt: Runtime) -> Settings:
    return rt.settings.model_copy(
        update={"reviews": ReviewsSettings(site_name="Google", site_url=SITE)}
    )


def _invite(rt: Runtime, settings: Settings) -> dict[str, int]:
    with rt.transaction() as session:
        return dict(
            invite_after_visits(session, clock=rt.clock, settings=settings, principal=SYSTEM_WORKER)
        )


def _invitations(rt: Runtime) -> dict[str, tuple[str, bool]]:
    """Patient -> (message, whether the site's link is in it); tone and reading level are
    the engine's per-patient choice, not the invitation's."""
    with rt.transaction() as session:
        rows = session.scalars(
            select(OutboxMessage).where(OutboxMessage.content_message == "review_invite")
        ).all()
        return {r.patient_id: (r.content_message, SITE in r.body) for r in rows}


def test_a_dissatisfied_patient_gets_the_same_invitation_and_a_service_recovery_task(
    rt: Runtime, clock: FrozenClock, tmp_path: Path
) -> None:
    visit_at = clock.now() - timedelta(hours=4)
    import_patients(
        rt,
        tmp_path,
        [
            [reachable_patient("happy", phone="+15550100091"), _visit("happy", visit_at)],
            [reachable_patient("unhappy", phone="+15550100092"), _visit("unhappy", visit_at)],
            [reachable_patient("waiting", phone="+15550100093"),
             _visit("waiting", clock.now() - timedelta(minutes=50))],
        ],
    )  # fmt: skip
    consent_and_content(rt, ["happy", "unhappy", "waiting"])
    with rt.transaction() as session:
        for pid, recommend, satisfied in (("happy", 10, 5), ("unhappy", 1, 1)):
            receive_questionnaire_response(
                session, touchpoint(pid, recommend, satisfied, clock.now()), clock=clock,
                principal=SYSTEM_WORKER, source="sms",
            )  # fmt: skip

    assert _invite(rt, _settings(rt)) == {"invited": 2}  # "waiting" left the visit < 2 h ago

    invitations = _invitations(rt)
    assert set(invitations) == {"happy", "unhappy"}
    assert invitations["happy"] == invitations["unhappy"] == ("review_invite", True)
    with rt.transaction() as session:
        tasks = {
            (i.patient_id, i.rule_id) for i in list_worklist(session, now=clock.now(), kind="task")
        }
    assert tasks == {("unhappy", "touchpoint-dissatisfied")}


def test_one_invitation_per_visit_and_per_year_and_none_without_a_site(
    rt: Runtime, clock: FrozenClock, tmp_path: Path
) -> None:
    first = clock.now() - timedelta(hours=3)
    import_patients(
        rt, tmp_path, [[reachable_patient("ana", phone="+15550100094"), _visit("ana", first)]]
    )
    consent_and_content(rt, ["ana"])
    assert _invite(rt, rt.settings) == {"not_configured": 1}

    assert _invite(rt, _settings(rt)) == {"invited": 1}
    assert _invite(rt, _settings(rt)) == {}
    import_patients(
        rt, tmp_path / "later", [[reachable_patient("ana", phone="+15550100094"),
                                  _visit("ana", first + timedelta(days=2))]],
    )  # fmt: skip
    clock.set(first + timedelta(days=3))
    assert _invite(rt, _settings(rt)) == {"recently_invited": 1}
    assert len(_invitations(rt)) == 1
