"""Alert burden of the symptom rules before and after issue 14, on a simulated diary cohort.

    .venv/bin/python benchmarks/alert_burden.py --patients 400 --weeks 12 --seed 14

Each simulated patient sends one symptom diary a week (the shipped 15-item diary). Grades
follow a per-symptom random walk: most weeks stay where they were, flares come and settle,
a few patients are on active chemotherapy and report fever now and then. The same diaries
are judged twice by the pure engine:

- before: one rule, grade >= 3 or >= 2 above the patient's *first* diary, all high;
- after: the shipped rules (febrile neutropenia on therapy, emergency symptoms, grade 4
  urgent, grade 3 or >= 2 above the *previous* diary, each symptom reported once).

Prints one JSON line: share of check-ins that raise an alert (PRO-TECT reported 34 % of
surveys), alerts per patient-week and urgent alerts per patient-week, before and after.
No database and no clock: figures depend only on the seed.
"""

from __future__ import annotations

import argparse
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from careloop.feedback.catalog import default_catalog
from careloop.feedback.checkins import Checkin, read_checkin
from careloop.feedback.evaluate import NewInput, RecordSnapshot, evaluate
from careloop.feedback.ruleset import Rule, Severity, SymptomRule, default_rules

DIARY = "https://careloop.dev/fhir/Questionnaire/oncology-symptom-diary"
START = datetime(2026, 1, 5, 15, 0, tzinfo=UTC)
RARE = {"chest-pain", "confusion", "bleeding", "fever-chills"}

BEFORE: list[Rule] = [
    SymptomRule(
        id="symptom-severe-or-worsening",
        title="Severe or worsening symptom reported (first-diary baseline)",
        kind="symptom",
        severity=Severity.HIGH,
        item_system="https://careloop.dev/fhir/CodeSystem/symptom",
        grade_at_least=3,
        worse_by=2,
        evidence=["careloop before issue 14"],
    )
]


def _step(grade: int, usual: int, rng: random.Random, *, rare: bool) -> int:
    """Next week's grade: back towards the patient's usual grade, with occasional flares."""
    roll = rng.random()
    if rare:
        return 0 if roll < 0.985 else rng.choice([1, 1, 2, 3])
    if roll < 0.015:
        return min(4, grade + 2)
    if roll < 0.08:
        return min(4, grade + 1)
    if grade > usual and roll < 0.6:
        return grade - 1
    return grade


def _diary(pid: str, grades: dict[str, int], at: datetime) -> dict[str, Any]:
    return {
        "resourceType": "QuestionnaireResponse",
        "id": f"qr-{pid}-{at:%Y%m%d}",
        "questionnaire": DIARY,
        "status": "completed",
        "subject": {"reference": f"Patient/{pid}"},
        "authored": at.isoformat(),
        "item": [{"linkId": k, "answer": [{"valueInteger": v}]} for k, v in grades.items()],
    }


def run(*, patients: int, weeks: int, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    questionnaire = default_catalog().get(DIARY)
    items = [i["linkId"] for i in questionnaire["item"]]
    after_rules = [r for r in default_rules() if isinstance(r, SymptomRule)]
    totals = {
        "checkins": 0,
        "before_alerting": 0,
        "after_alerting": 0,
        "before_alerts": 0,
        "after_alerts": 0,
        "before_urgent": 0,
        "after_urgent": 0,
    }
    for n in range(patients):
        pid = f"sim-{n}"
        therapy = ("MedicationAdministration/sim",) if rng.random() < 0.6 else ()
        usual = {k: (0 if k in RARE else rng.choice([0, 0, 0, 0, 1, 1, 2])) for k in items}
        grades = dict(usual)
        history: list[Checkin] = []
        for week in range(weeks):
            grades = {k: _step(g, usual[k], rng, rare=k in RARE) for k, g in grades.items()}
            at = START + timedelta(weeks=week)
            checkin = read_checkin(questionnaire, _diary(pid, grades, at), now=at)
            new = NewInput(pid, checkin=checkin)
            first = RecordSnapshot(pid, checkins=tuple(history[:1]), active_therapy=therapy)
            every = RecordSnapshot(pid, checkins=tuple(history), active_therapy=therapy)
            before = evaluate(BEFORE, snapshot=first, new_input=new, now=at)
            after = evaluate(after_rules, snapshot=every, new_input=new, now=at)
            totals["checkins"] += 1
            totals["before_alerting"] += bool(before)
            totals["after_alerting"] += bool(after)
            totals["before_alerts"] += len(before)
            totals["after_alerts"] += len(after)
            totals["before_urgent"] += sum(f.severity is Severity.URGENT for f in before)
            totals["after_urgent"] += sum(f.severity is Severity.URGENT for f in after)
            history.append(checkin)
    weeks_total = patients * weeks
    checkins = totals["checkins"]
    return {
        "patients": patients,
        "weeks": weeks,
        "seed": seed,
        "checkins": checkins,
        "share_alerting_before": round(totals["before_alerting"] / checkins, 3),
        "share_alerting_after": round(totals["after_alerting"] / checkins, 3),
        "alerts_per_patient_week_before": round(totals["before_alerts"] / weeks_total, 3),
        "alerts_per_patient_week_after": round(totals["after_alerts"] / weeks_total, 3),
        "urgent_per_patient_week_before": round(totals["before_urgent"] / weeks_total, 3),
        "urgent_per_patient_week_after": round(totals["after_urgent"] / weeks_total, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--patients", type=int, default=400)
    parser.add_argument("--weeks", type=int, default=12)
    parser.add_argument("--seed", type=int, default=14)
    args = parser.parse_args()
    print(orjson.dumps(run(patients=args.patients, weeks=args.weeks, seed=args.seed)).decode())


if __name__ == "__main__":
    main()
