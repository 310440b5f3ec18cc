"""The patient view reads the patient's row (contact points), consent and stored preferences
once a request, for their panels and the engine's preview beside them, and shows what reading
them in each panel showed; 27 statements in all, the audit write among them."""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

from careloop.clock import FrozenClock
from careloop.governance.consent import consent_matrix, opt_out_channel
from careloop.outreach.next_decision import preview_next_decision
from careloop.personalize.service import set_stated_preferences
from careloop.runtime import Runtime
from tests.statements import statements
from tests.web.test_console_patient_view_reads import PID, _history

STATEMENTS = 28  # 27, and the no-op update that locks the audit chain head before reading it
"""Every statement of one view by a clinician: 34 before each panel read these again."""


def _reads_of(sent: list[str], table: str) -> list[str]:
    return [s for s in sent if f"FROM {table}" in " ".join(s.split())]


def test_the_view_reads_contacts_consent_and_preferences_once(
    rt: Runtime, clock: FrozenClock, tmp_path: Path, api_client: Any
) -> None:
    _history(rt, clock, tmp_path)
    with rt.transaction() as session:
        opt_out_channel(
            session, patient_id=PID, channel="sms", source="staff", actor="test", now=clock.now()
        )
        set_stated_preferences(
            session, clock=clock, patient_id=PID, changes={"tone": "formal"}, actor="test"
        )
    nurse = api_client("clinician")
    nurse.get(f"/console/patients/{PID}")  # the first request warms caches
    with statements(rt.engine, starting="") as sent:
        page = nurse.get(f"/console/patients/{PID}")

    assert page.status_code == 200
    assert len(_reads_of(sent, "patients")) == 1, _reads_of(sent, "patients")
    assert len(_reads_of(sent, "consent_records")) == 1
    assert len(_reads_of(sent, "preference_profiles")) == 1
    assert len(sent) == STATEMENTS, "\n".join(sent)
    # What the panels and the preview show is what each reading on its own finds.
    with rt.transaction() as session:
        matrix = consent_matrix(session, patient_id=PID, now=clock.now())
        preview = preview_next_decision(session, patient_id=PID, now=clock.now())
    consent_panel = page.text.split('id="consent-h"')[1].split("</section>")[0]
    shown = re.findall(r'<td title="([^"]*)" class="(allowed|refused)">', consent_panel)
    assert shown == [
        (html.escape(d.reason), "allowed" if d.allowed else "refused")
        for row in matrix.values()
        for d in row.values()
    ]
    assert not matrix["care-reminders"]["sms"].allowed  # the opt-out above, shown as such
    assert 'class="refused">Opted out 2 Mar</td>' in consent_panel
    preferences = page.text.split('id="pref-h"')[1]
    assert "<dt>Tone</dt><dd>formal</dd>" in preferences
    assert preview is not None
    assert html.escape(preview.decision.explanation) in page.text
