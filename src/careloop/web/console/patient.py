"""The patient list and the patient view: everything about one patient on one page.

Each panel reads its owner's service: the record (records), consent (governance),
preferences and decisions (personalize), alerts and plan changes (careteam), and the one
timeline, care gaps and program states from the event log. Panels the viewer's role does
not grant are left out, and the whole read is audited once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Annotated, Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from careloop.access.board import booking_places
from careloop.audit import Auditor, Purpose
from careloop.careteam import plans
from careloop.careteam.assignees import staff_names
from careloop.careteam.worklist import list_worklist
from careloop.governance.consent import consent_history, consent_matrix
from careloop.governance.number_opt_outs import caregiver_stops
from careloop.outreach.audience import PatientReads
from careloop.outreach.next_decision import preview_next_decision
from careloop.outreach.requests import language_notes
from careloop.personalize import service as personalize
from careloop.records.service import get_patient, get_patient_record, list_patients, timeline
from careloop.security.permissions import PatientPanel, may_see
from careloop.security.principal import Principal
from careloop.web.console import patient_context
from careloop.web.console.charts import line_chart
from careloop.web.console.forms import forms_context
from careloop.web.console.invite import RESULTS as INVITE_RESULTS
from careloop.web.console.invite import invite_channels
from careloop.web.console.messages import MESSAGES_READ, messaging_context
from careloop.web.console.pages import ConsoleView, PageNumber, viewer
from careloop.web.console.proposals import propose_context
from careloop.web.console.timeline_groups import group_timeline
from careloop.web.console.tools import tools_context
from careloop.web.console.words import (
    consent_table,
    counted_notes,
    learned_sentences,
)
from careloop.web.console.worklist import approval_notice, item_views
from careloop.web.deps import (
    reach_patient,
)
from careloop.web.timefmt import stamp

router = APIRouter(include_in_schema=False)

# Adult home-monitoring targets, shaded (ACC/AHA 2017 for blood pressure, the ADA's time in
# range for glucose), and the hypertensive-crisis thresholds, drawn as a dashed red line with
# the readings at or above them ringed. Systolic and diastolic get a chart each: one green
# band on a shared axis covered a crisis diastolic of 121 with "on target".
_BP = (
    ("systolic", "bp_top", (90.0, 130.0), 180.0),
    ("diastolic", "bp_bottom", (60.0, 80.0), 120.0),
)
_GREEN = "#009E73"
_OTHER_BANDS = {"Glucose": ((70.0, 180.0),)}
CHART_TITLES = {
    "bp_top": "Blood pressure trend, top number (systolic)",
    "bp_bottom": "Blood pressure trend, bottom number (diastolic)",
    "Glucose": "Glucose trend",
    "Weight": "Weight trend",
    "systolic": "systolic",
    "diastolic": "diastolic",
    "glucose": "glucose",
    "weight": "weight",
}


def reading_charts(
    series: dict[str, dict[str, list[Any]]],
    *,
    say: Callable[[str], str] | None = None,
    words: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """One SVG trend chart per measure (BP top and bottom numbers, glucose, weight), units
    shown; ``say`` and ``words`` translate titles and the chart's own words for the portal."""
    name_of = say or CHART_TITLES.__getitem__
    units = dict(patient_context.MEASURES.values())
    charts: dict[str, Any] = {}
    for chart, values in series.items():
        if chart == "Blood pressure":
            for measure, key, (low, high), crisis in _BP:
                if measure in values:
                    title = name_of(key)
                    charts[title] = line_chart(
                        {name_of(measure): values[measure]},
                        title=title,
                        unit=units[chart],
                        bands=[(low, high, _GREEN)],
                        crisis=crisis,
                        words=words,
                    )
            continue
        title = name_of(chart)
        charts[title] = line_chart(
            {name_of(k): v for k, v in values.items()},
            title=title,
            unit=units[chart],
            bands=[(lo, hi, _GREEN) for lo, hi in _OTHER_BANDS.get(chart, ())],
            words=words,
        )
    return charts


def _may_list(principal: Principal) -> bool:
    return principal.is_staff and principal.can("patients:read")


def _may_read(principal: Principal) -> bool:
    return principal.is_staff and may_see(principal, PatientPanel.RECORD)


@router.get("/console/patients", response_class=HTMLResponse)
def patients_page(
    view: Annotated[ConsoleView, viewer(_may_list, what="patient records")],
    page: PageNumber,
) -> Response:
    patients = list_patients(view.session, limit=50, offset=page * 50)
    Auditor(view.session, view.clock, view.principal, Purpose.TREATMENT).read(
        "patient-list", [p.id for p in patients]
    )
    return view.render(
        "console/patients.html", {"section": "patients", "patients": patients, "page": page}
    )


@router.get("/console/patients/{patient_id}", response_class=HTMLResponse)
def patient_page(
    patient_id: str,
    view: Annotated[ConsoleView, viewer(_may_read, what="patient records")],
    message_error: str | None = None,
    invite: str | None = None,
    tool: str | None = None,
    form: str | None = None,
    approved: int | None = None,
    proposal: str | None = None,
) -> Response:
    reach = reach_patient(view.session, view.clock, view.principal, patient_id)
    now = view.clock.now()
    # Held for the request: the record, the consent panel and the engine's preview reuse this
    # row (the session's identity map keeps rows only while referenced).
    patient = get_patient(view.session, patient_id)
    record = get_patient_record(view.session, patient_id=patient_id, timeline_limit=0)
    context: dict[str, Any] = {
        "section": "patients",
        "record": record,
        "now": now,
        "appointments": timeline(
            view.session, patient_id=patient_id, types=["Appointment", "ServiceRequest"], limit=5
        ),
    }
    # A visit careloop booked says what and where, never only "Appointment" or a slot id.
    context["appointment_places"] = booking_places(
        view.session, [a.id for a in context["appointments"] if a.resource_type == "Appointment"]
    )
    # Each panel only when the API would answer it to this role (security.permissions); the
    # event-log panels share one read of the patient's events.
    log_panels = (
        PatientPanel.CLINICAL_TIMELINE,
        PatientPanel.READINGS,
        PatientPanel.CARE_GAPS,
        PatientPanel.PROGRAMS,
    )
    events = (
        patient_context.patient_events(view.session, patient_id=patient_id)
        if any(may_see(view.principal, panel) for panel in log_panels)
        else None
    )
    if may_see(view.principal, PatientPanel.CLINICAL_TIMELINE):
        context["timeline"] = group_timeline(
            patient_context.patient_timeline(view.session, patient_id=patient_id, events=events)
        )
    if may_see(view.principal, PatientPanel.READINGS):
        series = patient_context.reading_series(view.session, patient_id=patient_id, events=events)
        context["charts"] = reading_charts(series)
    if may_see(view.principal, PatientPanel.CARE_GAPS):
        context["gaps"] = patient_context.care_gaps(
            view.session, patient_id=patient_id, events=events
        )
    if may_see(view.principal, PatientPanel.PROGRAMS):
        context["programs"] = patient_context.program_states(
            view.session, patient_id=patient_id, events=events
        )
    if view.principal.can("patients:write"):
        context["invite_channels"] = invite_channels(list(record.contact_points))
        context["invite_result"] = INVITE_RESULTS.get(invite or "")
    if may_see(view.principal, PatientPanel.CLINICAL_TIMELINE):
        forms = forms_context(
            view.session, patient_id=patient_id, language=record.language, result=form
        )
        context.update(forms, forms_can_send=view.principal.can("patients:write"))
    if view.principal.can("plans:approve"):
        context.update(
            tools_context(view.session, patient_id=patient_id, clock=view.clock, result=tool)
        )
    # Consent and the stored preferences are read once, for their panels and the preview.
    panels = (PatientPanel.CONSENT, PatientPanel.PREFERENCES, PatientPanel.DECISIONS)
    shown = {p for p in panels if may_see(view.principal, p)}
    consent = (
        consent_history(view.session, patient_id=patient_id)
        if shown & {PatientPanel.CONSENT, PatientPanel.DECISIONS}
        else []
    )
    profiles = (
        personalize.profile_rows(view.session, patient_ids=[patient_id])
        if shown & {PatientPanel.PREFERENCES, PatientPanel.DECISIONS}
        else {}
    )
    if PatientPanel.CONSENT in shown:
        matrix = consent_matrix(
            view.session,
            patient_id=patient_id,
            now=now,
            snapshot=(patient.deceased, list(patient.contact_points)),
            history=consent,
        )
        context["consent"] = consent_table(matrix, consent, zone=record.timezone, now=now)
    if PatientPanel.PREFERENCES in shown:
        profile = personalize.get_profiles(view.session, patient_ids=[patient_id], rows=profiles)
        context["profile"] = profile[patient_id].as_dict()
        learned = {
            program: learned_sentences(factors)
            for program, factors in context["profile"]["learned"].items()
        }
        context["learned"] = {program: said for program, said in learned.items() if said}
    if PatientPanel.DECISIONS in shown:
        decisions = personalize.list_decisions(view.session, patient_id=patient_id, limit=5)
        context["decisions"] = decisions
        context["next_decision"] = preview_next_decision(
            view.session,
            patient_id=patient_id,
            now=now,
            recent=decisions,
            events=events,
            known=PatientReads(patient, consent, profiles.get(patient_id)),
        )
        context["language_notes"] = counted_notes(
            language_notes(view.session, patient_id=patient_id, limit=200), limit=5
        )
    if may_see(view.principal, PatientPanel.WORKLIST):
        items = list_worklist(
            view.session, now=now, patient_id=patient_id, include_resolved=True, limit=20
        )
        context["items"] = item_views(
            view.session, items, principal=view.principal, now=now, teams=view.team_title
        )
        adjustments = plans.list_adjustments(view.session, patient_id=patient_id, status=None)
        context["adjustments"] = adjustments
        # Who decided a plan change, by the name staff know them by (not ``user:<id>``); read
        # only when one was decided.
        named = any(a.decided_by or a.proposed_by for a in adjustments)
        context["staff_names"] = staff_names(view.session) if named else {}
        context["approved"] = approval_notice(
            view.session, approved, principal=view.principal, patient_id=patient_id
        )
    # A caregiver who replied STOP gets no copies: the nurse sees it beside the caregiver.
    context["caregiver_stops"] = {
        cid: stamp(at, record.timezone)
        for cid, at in caregiver_stops(
            view.session,
            [(c.id, [p.model_dump() for p in c.contact_points]) for c in record.caregivers],
        ).items()
    }
    context.update(propose_context(reach, result=proposal))
    context.update(messaging_context(reach, error=message_error))
    reach.audit_reads([MESSAGES_READ, "patient-view"], staff_purpose=Purpose.TREATMENT)
    return view.render("console/patient.html", context)
