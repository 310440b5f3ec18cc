"""The demo's relocating patient (issue 25, item 7): her prior provider's record and the new
practice's are linked into one; her annual visit, mammogram and flu shot are found due; the new
town's directory gives her three signed scheduling links (a doctor accepting new patients,
mammography at several locations, a flu shot at the pharmacy near her new home); she signs the
practice's intake link on her phone (sent here, signed in the browser by a person); a diet app
is prescribed; her glucose stays flat for six weeks and a follow-up is offered.

The six weeks run on a clock of their own (set back, then forward), so the step takes about a
second. Ids and counts only: no name, phone or reading is printed.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from rich.console import Console

from careloop.cli.demo_directory import directory_resources, home_address, relocating_needs
from careloop.cli.support import new_table
from careloop.clock import FrozenClock
from careloop.fhirdata.bundles import collection
from careloop.outreach.titles import program_title
from careloop.records.importer import import_bundle
from careloop.runtime import Runtime
from careloop.security.principal import Principal
from careloop.security.roles import Role

if TYPE_CHECKING:
    from careloop.cli.demo_run import DemoReport

DEMO = Principal(actor="system:demo", role=Role.CLINICIAN, source="demo")
SSN = {"system": "http://hl7.org/fhir/sid/us-ssn", "value": "999-41-2026"}
PRIOR, NEW = "demo-relocating-prior", "demo-relocating-new"
LOINC = "http://loinc.org"
DUE = ("annual-wellness-visit", "breast-cancer-screening", "flu-shot-this-season")


def _patient(pid: str, *, phone: bool) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": pid,
        "identifier": [SSN],
        "gender": "female",
        "birthDate": "1959-05-20",
        "name": [{"family": "Moore", "given": ["Elena"]}],
        "telecom": [{"system": "phone", "value": "+15550100177", "use": "mobile"}] if phone else [],
        "address": [home_address()] if phone else [],
    }


def _bundles(now: datetime) -> list[tuple[str, dict[str, Any]]]:
    """The prior provider's export first, then ours, then the new town's directory."""
    prior = [
        _patient(PRIOR, phone=False),
        {"resourceType": "Encounter", "id": f"{PRIOR}-visit", "status": "finished",
         "class": {"code": "AMB"}, "subject": {"reference": f"Patient/{PRIOR}"},
         "type": [{"coding": [{"system": "http://snomed.info/sct", "code": "185349003"}]}],
         "period": {"start": "2023-04-03T09:00:00Z", "end": "2023-04-03T09:30:00Z"}},
    ]  # fmt: skip
    groups = (("prior", prior), ("new", [_patient(NEW, phone=True)]),
              ("directory", directory_resources(now)))  # fmt: skip
    return [(name, collection(resources)) for name, resources in groups]


def _glucose(fhir_id: str, at: str, mg_dl: float) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": "2339-0", "display": "Glucose"}]},
        "subject": {"reference": f"Patient/{fhir_id}"},
        "effectiveDateTime": at,
        "valueQuantity": {"value": mg_dl, "unit": "mg/dL", "system": "http://unitsofmeasure.org",
                          "code": "mg/dL"},
    }  # fmt: skip


def step_relocating(rt: Runtime, console: Console, report: DemoReport) -> None:
    from careloop.access.directory import scheduling_links, send_scheduling_links
    from careloop.careteam.intake import receive_observation
    from careloop.digitaltools.catalogue import load_tools
    from careloop.digitaltools.service import follow_up_tools, prescribe
    from careloop.forms.service import send_form
    from careloop.governance.consent import record_consent
    from careloop.programs.definition import find_program
    from careloop.programs.service import run_program
    from careloop.records.service import get_patient_record

    for name, bundle in _bundles(rt.clock.now()):
        import_bundle(
            rt.sessions, engine=rt.engine, bundle=bundle, name=name, clock=rt.clock,
            principal=DEMO, default_timezone=rt.settings.records.default_timezone,
        )  # fmt: skip
    now = rt.clock.now()
    with rt.transaction() as session:
        record = get_patient_record(session, patient_id=PRIOR, timeline_limit=0)
        due = [
            name for name in DUE
            if PRIOR in {e.patient_id for e in run_program(
                session, program=find_program(name), now=now, patient_ids=[PRIOR]).eligible}
        ]  # fmt: skip
        record_consent(
            session, patient_id=PRIOR, purpose="*", channel="*", status="granted",
            source="staff", actor=DEMO.actor, now=now,
        )  # fmt: skip
        links = scheduling_links(
            session, patient_id=PRIOR, needs=relocating_needs(), now=now, settings=rt.settings
        )
        sent = send_scheduling_links(
            session, patient_id=PRIOR, links=links, clock=rt.clock, settings=rt.settings
        )
        form = send_form(
            session, patient_id=PRIOR, form_id="intake", clock=rt.clock, settings=rt.settings,
            principal=DEMO,
        )  # fmt: skip
    weeks = FrozenClock(now - timedelta(weeks=6, days=2))
    six_weeks = Runtime(settings=rt.settings, clock=weeks, engine=rt.engine, sessions=rt.sessions)
    tools = load_tools()
    with six_weeks.transaction() as session:
        app = prescribe(
            session, catalogue=tools, patient_id=PRIOR, tool_id="eat-well-app", clock=weeks,
            principal=DEMO, settings=rt.settings,
        )  # fmt: skip
        start = weeks.now()
        for week in range(7):
            weeks.set(start + timedelta(days=1 + 7 * week))
            receive_observation(
                session, _glucose(PRIOR, weeks.now().isoformat(), 131 - week % 2), clock=weeks,
                principal=DEMO, source="device",
            )  # fmt: skip
    weeks.set(now)
    with six_weeks.transaction() as session:
        tally = follow_up_tools(
            session, catalogue=tools, clock=weeks, settings=rt.settings, principal=DEMO
        )
    table = new_table(
        f"10. The relocating patient {PRIOR}: one record from two providers", "step", "result"
    )
    table.add_row("records linked (same SSN)", ", ".join(sorted(record.sources)))
    table.add_row("care found due", ", ".join(program_title(p) for p in due) or "none")
    for link in links:
        places = sorted({place or "?" for _, _, place in link.choices})
        by = sent[link.need]
        table.add_row(f"scheduling link: {link.need}", f"{len(link.choices)} times at "
                      + ", ".join(places) + (f"; sent by {by.channel}" if by.outbox_id
                                             else f"; not sent ({by.not_queued})"))  # fmt: skip
    table.add_row("intake form to sign on the phone", "link sent" if form.outbox_id else
                  f"not sent ({form.not_queued})")  # fmt: skip
    table.add_row("diet app prescribed", f"{app.tool} (CarePlan {app.careplan_id}), "
                  + ("link sent" if app.message_queued else "link not sent: a task"))  # fmt: skip
    table.add_row("glucose after 6 weeks", "not improved → follow-up offered, care-team task"
                  if tally["not_improved"] else "improved")  # fmt: skip
    console.print(table)
    report.sections["relocating"] = {
        "patient_id": PRIOR,
        "sources": sorted(record.sources),
        "due": due,
        "scheduling_links": {
            link.need: sorted({place or "" for _, _, place in link.choices}) for link in links
        },
        "form_sent": form.outbox_id is not None,
        "follow_up": dict(tally),
    }
