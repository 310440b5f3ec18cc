"""What a nurse reads on a worklist card: an unassigned item's card said "· with unassigned"."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from careloop.careteam import alerts
from careloop.feedback.ruleset import Severity
from careloop.runtime import Runtime
from tests.access.fhir_fixtures import import_resources, patient


def test_an_unassigned_card_says_unassigned(
    rt: Runtime, tmp_path: Path, api_client: Callable[..., Any]
) -> None:
    import_resources(rt, tmp_path, [patient("p-001")])
    with rt.transaction() as session:
        alerts.create_task(
            session,
            patient_id="p-001",
            rule_id="outreach-call-back",
            title="Patient asked for a call back",
            summary="Replied CALL to a reminder.",
            severity=Severity.HIGH,
            clock=rt.clock,
            actor="system:test",
            team="care-coordination",
        )

    page = api_client("clinician").get("/console/worklist")

    assert page.status_code == 200, page.text
    assert "with unassigned" not in page.text
    assert '· <span data-testid="card-assignee">unassigned</span>' in page.text
