"""Program results as ``MeasureReport``: one ``individual`` report per patient found with a
care gap (program, period), and one ``summary`` per program and period with the count.

Built from the ``eligible`` events programs record on each run (the event log is the
result's record), the latest reason per patient winning, as the program's report does.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from careloop.events import EventKind, list_events
from careloop.models import Event
from careloop.records.fhir_query import StoredResource

MEASURE_BASE = "https://careloop.dev/fhir/Measure/"
POPULATION = "http://terminology.hl7.org/CodeSystem/measure-population"


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _period(payload: dict[str, Any]) -> dict[str, str]:
    start, _, end = str(payload.get("window") or payload.get("period") or "").partition("/")
    return {"start": start, "end": end or start} if start else {}


def _group(count: int) -> list[dict[str, Any]]:
    return [
        {
            "code": {"text": "care gap"},
            "population": [
                {
                    "code": {"coding": [{"system": POPULATION, "code": "initial-population"}]},
                    "count": count,
                }
            ],
        }
    ]


def _individual(event: Event) -> dict[str, Any]:
    payload = event.payload or {}
    report: dict[str, Any] = {
        "resourceType": "MeasureReport",
        "id": f"gap-{event.id}",
        "status": "complete",
        "type": "individual",
        "measure": f"{MEASURE_BASE}{event.program}",
        "subject": {"reference": f"Patient/{event.patient_id}"},
        "date": _iso(event.occurred_at),
        "period": _period(payload),
        "group": _group(1),
    }
    if payload.get("reason"):
        report["group"][0]["code"] = {"text": str(payload["reason"])[:500]}
    return report


def _summary(program: str, payload: dict[str, Any], count: int, at: datetime) -> dict[str, Any]:
    key = f"{program}|{payload.get('period')}"
    return {
        "resourceType": "MeasureReport",
        "id": "summary-" + hashlib.sha256(key.encode()).hexdigest()[:16],
        "status": "complete",
        "type": "summary",
        "measure": f"{MEASURE_BASE}{program}",
        "date": _iso(at),
        "period": _period(payload),
        "group": _group(count),
    }


def measure_reports(session: Session, patients: list[str] | None) -> list[StoredResource]:
    """Individual reports (of ``patients``, or all) and, for all, the summaries."""
    events = (
        [
            e
            for pid in patients
            for e in list_events(session, patient_id=pid, kinds=[EventKind.ELIGIBLE])
        ]
        if patients is not None
        else list(list_events(session, kinds=[EventKind.ELIGIBLE]))
    )
    latest: dict[tuple[str, str, str], Event] = {}
    for event in events:
        period = str((event.payload or {}).get("period"))
        latest[(str(event.program), period, str(event.patient_id))] = event
    found = [StoredResource(_individual(e), e.patient_id, e.occurred_at) for e in latest.values()]
    if patients is None:
        groups: dict[tuple[str, str], list[Event]] = {}
        for (program, period, _pid), event in latest.items():
            groups.setdefault((program, period), []).append(event)
        for (program, _period_key), members in groups.items():
            last = max(members, key=lambda e: e.occurred_at)
            found.append(
                StoredResource(
                    _summary(program, last.payload or {}, len(members), last.occurred_at),
                    None,
                    last.occurred_at,
                )
            )
    return found
