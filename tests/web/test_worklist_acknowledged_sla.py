"""A nurse who acknowledges an alert is not told it will escalate again: escalation is for
alerts nobody has acknowledged (``alerts.escalate_overdue``), so the card says when it was
acknowledged instead of counting down to an escalation that never comes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from careloop.careteam import alerts
from careloop.clock import FrozenClock
from careloop.feedback.ruleset import Severity
from careloop.runtime import Runtime
from careloop.security.principal import Principal
from careloop.security.roles import Role
from tests.access.fhir_fixtures import import_resources, patient
from tests.careteam.test_worklist_active_order import _finding

NURSE = Principal(actor="user:nurse-1", role=Role.CLINICIAN, source="test")


def _sla_of(page: str, item_id: int) -> str:
    card = page.split(f'id="item-{item_id}"')[1]
    return card.split('data-testid="card-sla">')[1].split("</span>")[0]


def test_an_acknowledged_alert_no_longer_counts_down_to_an_escalation(
    rt: Runtime, clock: FrozenClock, tmp_path: Path, api_client: Callable[..., Any]
) -> None:
    import_resources(rt, tmp_path, [patient("p-ack")])
    finding = _finding("p-ack", Severity.URGENT, "test-ack-sla")
    with rt.transaction() as session:
        item_id = alerts.raise_finding(session, finding, clock=clock, actor="test").item_id
    clock.advance(timedelta(hours=25))
    with rt.transaction() as session:
        assert alerts.escalate_overdue(session, clock.now()) == [item_id]
    clock.advance(timedelta(minutes=5))
    with rt.transaction() as session:
        alerts.acknowledge(session, item_id, clock=clock, principal=NURSE)
    clock.advance(timedelta(minutes=3))

    page = api_client("clinician").get("/console/worklist")

    assert page.status_code == 200, page.text
    sla = _sla_of(page.text, item_id)
    assert "escalates again" not in sla
    assert "left" not in sla
    assert sla == "escalated to the remote monitoring nursing lead · acknowledged 3 min ago"
    with rt.transaction() as session:
        clock.advance(timedelta(hours=5))
        assert alerts.escalate_overdue(session, clock.now()) == []
