"""``careloop demo`` step 7 enrols a number that can take the sign-in code (issue 15, item 1).

The Synthea sample writes every phone as ``home``, and a text never goes to a home line: the
demo's own set-up sends the portal patient's mobile as an EHR would (a FHIR telecom with
``use=mobile``), enrols that number, and the printed step says it is a mobile.
"""

from __future__ import annotations

import io

from rich.console import Console

from careloop.cli.demo_run import DemoReport, step_console, step_import
from careloop.crypto import signing_key
from careloop.governance.portal import request_code
from careloop.records.service import get_patient_record
from careloop.runtime import Runtime
from careloop.web.console.demo_users import DEMO_MOBILE


def test_the_demo_portal_patient_signs_in_by_a_code_texted_to_a_mobile(rt: Runtime) -> None:
    printed = io.StringIO()
    report = DemoReport(database="test")
    step_import(rt, Console(file=printed, width=400), report)
    step_console(rt, Console(file=printed, width=400), report)

    shown = printed.getvalue()
    assert "(their mobile number is on that page)" in shown
    assert "home phone" not in shown
    assert "555-0142" not in shown  # the number is PHI: never printed
    patient_id = report.sections["portal_contact"]["patient_id"]
    with rt.transaction() as session:
        record = get_patient_record(session, patient_id=patient_id, timeline_limit=0)
        mobiles = [cp for cp in record.contact_points if cp.use == "mobile"]
        assert [cp.display for cp in mobiles] == [DEMO_MOBILE]
        _challenge, pending = request_code(
            session,
            key=signing_key(rt.settings),
            system="sms",
            value=DEMO_MOBILE,
            now=rt.clock.now(),
        )
    assert pending is not None
    assert pending.to == "+16175550142"
