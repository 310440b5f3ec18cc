"""The program report: KPIs, holdout uplift and a fairness review, from the event log and record.

Nothing here is stored: every figure is recomputed from the append-only event log (what
outreach did and what patients did back) and from the FHIR record (appointments, encounters,
dispenses, survey answers), so a report can never drift from what happened.

Definitions (also in docs/insights.md):

- *eligible / enrolled / contacted*: distinct patients with an ``eligible`` / ``enrolled`` /
  ``sent`` event of the program in the period; arms come from the ``enrolled`` payload.
- *engaged*: a contacted patient who replied (``replied``, ``confirmed`` or ``clicked``)
  within 72 hours of a message of the program.
- *completed*: distinct patients with a ``completed`` event of the program.
- *uplift*: completion of the treated arm minus the holdout, with Newcombe's 95 % interval;
  as-intended compares arms as randomized, as-received compares treated patients actually
  contacted with the holdout (not randomized: read it as a sensitivity check).
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from careloop.events import list_events
from careloop.insights.access_report import BOOKED, OFFERED, access_section
from careloop.insights.fairness import SMALL_CELL, outcome_review
from careloop.insights.kpis.appointments import appointment_kpis
from careloop.insights.kpis.readmissions import thirty_day_readmissions
from careloop.insights.kpis.retention import LapsePolicy, retention_kpis, visits_by_patient
from careloop.insights.kpis.surveys import answers, csat, net_promoter_score
from careloop.insights.program_figures import (
    ProgramFigures,
    engagement_figures,
    internal_activity,
    is_program,
    program_figures,
)
from careloop.insights.rewards import rewards_section
from careloop.insights.stats import difference_of_proportions, power_note, too_few
from careloop.models import Event
from careloop.records import service as records

FAIRNESS_ATTRIBUTES = ("language", "age_band", "sex", "race", "ethnicity")
NPS_LINK_ID = "likelihood-to-recommend"
CSAT_LINK_ID = "csat"


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _experiment(fig: ProgramFigures) -> dict[str, Any]:
    treated = {p for p, arm in fig.arms.items() if arm != "holdout"}
    holdout = {p for p, arm in fig.arms.items() if arm == "holdout"}
    result: dict[str, Any] = {
        "treated_n": len(treated),
        "holdout_n": len(holdout),
        "treated_completed": len(treated & fig.completed),
        "holdout_completed": len(holdout & fig.completed),
    }
    if not treated or not holdout:
        result["note"] = "no randomized comparison yet: both arms need patients"
        return result
    for label, group in (("as_intended", treated), ("as_received", treated & fig.contacted)):
        if not group:
            continue
        diff = difference_of_proportions(
            treated_successes=len(group & fig.completed),
            treated_n=len(group),
            control_successes=len(holdout & fig.completed),
            control_n=len(holdout),
        )
        result[label] = {
            "treated_rate": round(diff.treated_rate, 4),
            "holdout_rate": round(diff.control_rate, 4),
            "difference": round(diff.difference, 4),
            "ci95": [round(diff.low, 4), round(diff.high, 4)],
            "excludes_zero": diff.excludes_zero,
            "too_few": too_few(treated_n=len(group), control_n=len(holdout)),
            "power_note": power_note(diff, treated_n=len(group), control_n=len(holdout)),
        }
    return result


def _channels(fig: ProgramFigures) -> list[dict[str, Any]]:
    rows = []
    for channel in sorted(fig.sent_by_channel):
        minutes = fig.response_minutes.get(channel, [])
        rows.append(
            {
                "channel": channel,
                "sent": fig.sent_by_channel[channel],
                "engaged": fig.engaged_by_channel.get(channel, 0),
                "engagement_rate": _rate(
                    fig.engaged_by_channel.get(channel, 0), fig.sent_by_channel[channel]
                ),
                "median_response_minutes": round(statistics.median(minutes), 1)
                if minutes
                else None,
            }
        )
    return rows


def send_window_rows(fig: ProgramFigures) -> list[dict[str, Any]]:
    """Messages sent and the engagement rate per send window (``'unknown'``: none chosen)."""
    return [
        {
            "send_window": window,
            "sent": sent,
            "engagement_rate": _rate(fig.engaged_by_window.get(window, 0), sent),
        }
        for window, sent in sorted(fig.sent_by_window.items())
    ]


def _fairness(
    fig: ProgramFigures, attributes: dict[str, dict[str, str]], *, min_ratio: float
) -> list[dict[str, Any]]:
    contacted = sorted(fig.contacted)
    treated = sorted(p for p, arm in fig.arms.items() if arm != "holdout")
    reviews = []
    for attribute in FAIRNESS_ATTRIBUTES:
        for outcome, population, hits in (
            ("engagement", contacted, fig.engaged),
            ("completion", treated, fig.completed),
        ):
            if not population:
                continue
            reviews.append(
                outcome_review(
                    outcome=outcome,
                    attribute=attribute,
                    population=population,
                    hits=hits,
                    attributes=attributes,
                    min_ratio=min_ratio,
                )
            )
    return reviews


def _record_kpis(
    session: Session, *, patient_ids: Iterable[str], start: date, end: date
) -> dict[str, Any]:
    ids = sorted(set(patient_ids))
    if not ids:
        return {}

    def of_type(name: str) -> list[dict[str, Any]]:
        return [
            r for _pid, r in records.resources_of_type(session, resource_type=name, patient_ids=ids)
        ]

    appointments = appointment_kpis(of_type("Appointment"))
    readmissions = thirty_day_readmissions(of_type("Encounter"), period_start=start, period_end=end)
    responses = of_type("QuestionnaireResponse")
    nps_scores = answers(responses, link_id=NPS_LINK_ID)
    csat_scores = answers(responses, link_id=CSAT_LINK_ID)
    return {
        "appointments": _as_dict(appointments),
        "readmissions_30d": _as_dict(readmissions),
        "likelihood_to_recommend": _as_dict(net_promoter_score(nps_scores)) if nps_scores else None,
        "csat": _as_dict(csat(csat_scores)) if csat_scores else None,
    }


def _as_dict(value: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in getattr(value, "__dataclass_fields__", {}):
        item = getattr(value, name)
        out[name] = dict(item) if isinstance(item, dict) else item
    for name in ("rate", "noshow_rate", "cancellation_rate", "reschedule_rate", "score"):
        if hasattr(value, name) and name not in out:
            out[name] = getattr(value, name)
    return out


def _loop_kpis(events: Sequence[Event]) -> dict[str, Any]:
    checkins = sum(1 for e in events if e.kind == "checkin_submitted")
    readings = sum(1 for e in events if e.kind == "reading_received")
    raised: dict[str, datetime] = {}
    ack_minutes: list[float] = []
    resolve_minutes: list[float] = []
    within_sla = 0
    for event in events:
        key = event.subject_id or ""
        if event.kind == "alert_raised":
            raised.setdefault(key, event.occurred_at)
        elif event.kind == "alert_acknowledged" and key in raised:
            minutes = (event.occurred_at - raised[key]).total_seconds() / 60
            ack_minutes.append(minutes)
            sla = (event.payload or {}).get("sla_minutes")
            within_sla += int(sla is None or minutes <= float(sla))
        elif event.kind == "alert_resolved" and key in raised:
            resolve_minutes.append((event.occurred_at - raised[key]).total_seconds() / 60)
    return {
        "checkins_submitted": checkins,
        "readings_received": readings,
        "alerts_raised": len(raised),
        "alerts_per_checkin": _rate(len(raised), checkins),
        "median_minutes_to_acknowledge": round(statistics.median(ack_minutes), 1)
        if ack_minutes
        else None,
        "acknowledged_within_sla": _rate(within_sla, len(ack_minutes)),
        "median_minutes_to_resolve": round(statistics.median(resolve_minutes), 1)
        if resolve_minutes
        else None,
    }


def retention_section(
    session: Session,
    *,
    start: datetime,
    end: datetime,
    segments: Mapping[str, set[str]],
    policy: LapsePolicy,
) -> dict[str, Any]:
    """Return rate and lapsed patients of the living patients in ``segments`` (all of them,
    with their segments: the caller evaluates membership, insights does not)."""
    ids = sorted(segments)
    encounters = records.resources_of_type(session, resource_type="Encounter", patient_ids=ids)
    visits = visits_by_patient(encounters) if ids else {}
    return retention_kpis(
        visits, segments=segments, policy=policy, start=start, end=end, small_cell=SMALL_CELL
    )


LOOP_KINDS = (
    "checkin_submitted",
    "reading_received",
    "alert_raised",
    "alert_acknowledged",
    "alert_resolved",
)


def programs_page_report(
    session: Session, *, start: datetime, end: datetime, weeks: int, min_ratio: float = 0.8
) -> tuple[dict[str, Any], list[tuple[datetime, dict[str, Any]]]]:
    """The report of ``[start, end)`` and, for the learning curves, each week's ``channels``
    and ``send_windows`` per program: the figures ``build_report`` gives for that week, without
    the record and fairness sections the curves never show."""
    report = build_report(session, start=start, end=end, min_ratio=min_ratio)
    weekly = []
    for i in range(weeks):
        week_start = start + timedelta(weeks=i)
        figures = engagement_figures(session, start=week_start, end=week_start + timedelta(weeks=1))
        programs = [
            {
                "program": name,
                "channels": _channels(figures[name]),
                "send_windows": send_window_rows(figures[name]),
            }
            for name in sorted(figures)
            if is_program(name)
        ]
        weekly.append((week_start, {"programs": programs}))
    return report, weekly


def build_report(
    session: Session,
    *,
    start: datetime,
    end: datetime,
    program: str | None = None,
    min_ratio: float = 0.8,
    segments: Mapping[str, set[str]] | None = None,
    lapse: LapsePolicy | None = None,
) -> dict[str, Any]:
    """The whole report as JSON-ready data (aggregates only: no patient ids, small cells hidden).

    With ``segments`` (living patient -> segments) and ``lapse``, ``retention`` and ``rewards``
    sections (who comes back, who lapsed, who earned rewards: by segment, small cells hidden).
    """
    loop_events = list_events(session, since=start, until=end, kinds=LOOP_KINDS)
    access_events = list_events(session, since=start, until=end, kinds=[OFFERED, BOOKED])
    every = program_figures(session, start=start, end=end, program=program)
    figures = {name: fig for name, fig in every.items() if is_program(name)}
    internal = [name for name in every if not is_program(name)]
    everyone: set[str] = set()
    for fig in figures.values():
        everyone |= fig.eligible | set(fig.arms)
    attributes = records.reporting_attributes(session, patient_ids=everyone, as_of=end.date())
    offered = {e.patient_id for e in access_events if e.kind == OFFERED} & everyone
    # Both arms' visits: the holdout books through the practice, never through an offer.
    appointments = (
        list(
            records.resources_of_type(
                session, resource_type="Appointment", patient_ids=sorted(everyone)
            )
        )
        if offered
        else []
    )
    programs = []
    for name in sorted(figures):
        fig = figures[name]
        treated = [p for p, arm in fig.arms.items() if arm != "holdout"]
        programs.append(
            {
                "program": name,
                "reach": {
                    "eligible": len(fig.eligible),
                    "enrolled": len(fig.arms),
                    "holdout": len(fig.arms) - len(treated),
                    "contacted": len(fig.contacted),
                },
                "engagement": {
                    "engaged_within_72h": len(fig.engaged),
                    "rate": _rate(len(fig.engaged), len(fig.contacted)),
                },
                "completion": {
                    "completed": len(fig.completed),
                    "rate_treated": _rate(len(set(treated) & fig.completed), len(treated)),
                },
                "opted_out": len(fig.opted_out),
                "channels": _channels(fig),
                "send_windows": send_window_rows(fig),
                "experiment": _experiment(fig),
                "fairness": _fairness(fig, attributes, min_ratio=min_ratio),
            }
        )
        access = access_section(
            program=name,
            arms=fig.arms,
            first_seen=fig.first_seen,
            access_events=access_events,
            appointments=appointments,
            end=end,
        )
        if access is not None:
            programs[-1]["access"] = access
    report: dict[str, Any] = {
        "period": {
            "start": start.date().isoformat(),
            "end": (end - timedelta(microseconds=1)).date().isoformat(),
        },
        "program": program,
        "programs": programs,
        "internal": internal_activity(session, start=start, end=end, names=internal),
        "feedback_loop": _loop_kpis(loop_events),
        "record": _record_kpis(session, patient_ids=everyone, start=start.date(), end=end.date()),
    }
    if segments is not None and lapse is not None:
        report["retention"] = retention_section(
            session, start=start, end=end, segments=segments, policy=lapse
        )
        report["rewards"] = rewards_section(
            session,
            start=start,
            end=end,
            segments=segments,
            attributes=records.reporting_attributes(
                session, patient_ids=segments, as_of=end.date()
            ),
            fairness_attributes=FAIRNESS_ATTRIBUTES,
            min_ratio=min_ratio,
        )
    return report
