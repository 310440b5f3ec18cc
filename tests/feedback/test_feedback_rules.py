"""Clinical rules on real FHIR payloads, evaluated by the pure engine."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from careloop.feedback.catalog import default_catalog
from careloop.feedback.checkins import read_checkin
from careloop.feedback.evaluate import (
    NewInput,
    RecordSnapshot,
    evaluate,
    missing_data_actions,
)
from careloop.feedback.readings import read_observation
from careloop.feedback.ruleset import default_rules
from tests.feedback.loop_payloads import DIARY_ITEMS, blood_pressure, diary, glucose, weight

NOW = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
HF = frozenset({"http://snomed.info/sct|88805009"})


def _reading_findings(
    observation: dict, history: list[dict] = (), conditions=frozenset()
) -> list[str]:  # type: ignore[assignment,type-arg]
    past = tuple(r for o in history for r in read_observation(o, now=None))
    snapshot = RecordSnapshot("p1", readings=past, condition_codes=conditions)
    new = NewInput(
        "p1", readings=tuple(read_observation(observation, now=NOW)), source="Observation/x"
    )
    return [f.rule_id for f in evaluate(default_rules(), snapshot=snapshot, new_input=new, now=NOW)]


def _diary_findings(grades: dict[str, int], history: list[dict] = ()) -> list:  # type: ignore[assignment,type-arg]
    catalog = default_catalog()
    q = catalog.get(diary("p1", {}, NOW)["questionnaire"])
    past = tuple(read_checkin(q, r, now=None) for r in history)
    checkin = read_checkin(q, diary("p1", grades, NOW), now=NOW)
    snapshot = RecordSnapshot("p1", checkins=past)
    return evaluate(
        default_rules(), snapshot=snapshot, new_input=NewInput("p1", checkin=checkin), now=NOW
    )


def test_systolic_180_is_a_hypertensive_crisis_alert() -> None:
    assert _reading_findings(blood_pressure("p1", 180, 100, NOW)) == ["bp-crisis"]


def test_diastolic_120_alone_is_a_crisis_on_the_legacy_panel_code_too() -> None:
    assert _reading_findings(blood_pressure("p1", 150, 120, NOW, panel="55284-4")) == ["bp-crisis"]


def test_179_over_119_is_not_a_crisis() -> None:
    assert _reading_findings(blood_pressure("p1", 179, 119, NOW)) == []


def test_glucose_below_54_mg_dl_is_urgent_also_when_sent_in_mmol_per_litre() -> None:
    assert _reading_findings(glucose("p1", 53, NOW)) == ["glucose-level-2-hypoglycemia"]
    assert _reading_findings(glucose("p1", 2.9, NOW, unit="mmol/L")) == [
        "glucose-level-2-hypoglycemia"
    ]
    assert _reading_findings(glucose("p1", 3.0, NOW, unit="mmol/L")) == []


def _daily_glucose(values: list[float]) -> list[dict]:  # type: ignore[type-arg]
    start = NOW - timedelta(days=len(values))
    return [glucose("p1", v, start + timedelta(days=i)) for i, v in enumerate(values)]


def test_home_glucose_not_improving_over_6_weeks_proposes_a_follow_up_visit() -> None:
    history = _daily_glucose([165.0] * 41)
    findings = _reading_findings(glucose("p1", 168, NOW), history)
    assert findings == ["glucose-not-improving-6w"]
    rule = next(r for r in default_rules() if r.id == "glucose-not-improving-6w")
    assert rule.propose is not None
    assert rule.propose.kind == "follow_up_visit"


def test_home_glucose_that_is_improving_raises_nothing() -> None:
    history = _daily_glucose([190 - i * 1.5 for i in range(41)])
    assert _reading_findings(glucose("p1", 125, NOW), history) == []


def test_too_few_weeks_of_glucose_is_not_a_trend() -> None:
    history = _daily_glucose([170.0] * 10)
    assert _reading_findings(glucose("p1", 170, NOW), history) == []


def test_heart_failure_weight_up_2_kg_in_2_days_raises_a_high_alert() -> None:
    history = [
        weight("p1", 80.0, NOW - timedelta(hours=40)),
        weight("p1", 80.6, NOW - timedelta(hours=20)),
    ]
    assert _reading_findings(weight("p1", 82.1, NOW), history, HF) == ["hf-weight-gain-2kg-2d"]


def test_the_same_weight_gain_without_heart_failure_raises_nothing() -> None:
    history = [weight("p1", 80.0, NOW - timedelta(hours=40))]
    assert _reading_findings(weight("p1", 82.1, NOW), history) == []


def test_a_2_kg_gain_over_4_days_is_outside_the_window() -> None:
    history = [weight("p1", 80.0, NOW - timedelta(days=4))]
    assert _reading_findings(weight("p1", 82.5, NOW), history, HF) == []


def test_grade_3_symptom_raises_the_basch_alert() -> None:
    (finding,) = _diary_findings({"nausea": 3})
    assert finding.rule_id == "symptom-severe-or-worsening"
    assert finding.values["symptoms"]["nausea"]["reason"] == "severe"
    assert any("Basch" in e for e in finding.evidence)


def test_worse_by_2_from_the_previous_report_raises_the_alert_below_grade_3() -> None:
    previous = diary("p1", {"pain": 0}, NOW - timedelta(days=7))
    (finding,) = _diary_findings({"pain": 2}, [previous])
    assert finding.values["symptoms"]["pain"] == {
        "grade": 2,
        "previous": 0,
        "reason": "worse than the previous report",
    }


def test_grade_1_to_2_raises_nothing() -> None:
    previous = diary("p1", {"pain": 1}, NOW - timedelta(days=7))
    assert _diary_findings({"pain": 2}, [previous]) == []


@settings(max_examples=60, deadline=None)
@given(
    grades=st.dictionaries(st.sampled_from(DIARY_ITEMS), st.integers(0, 4), min_size=1),
    baseline=st.dictionaries(st.sampled_from(DIARY_ITEMS), st.integers(0, 4)),
)
def test_no_grade_3_or_worse_symptom_goes_without_an_alert(
    grades: dict[str, int], baseline: dict[str, int]
) -> None:
    history = [diary("p1", baseline, NOW - timedelta(days=7))]
    findings = _diary_findings(grades, history)
    severe = {name for name, grade in grades.items() if grade >= 3}
    flagged = {name for f in findings for name in f.values["symptoms"]}
    assert severe <= flagged


def test_missing_readings_nudge_at_3_days_and_become_a_task_at_5() -> None:
    last = {
        "a": NOW - timedelta(days=1),
        "b": NOW - timedelta(days=3, hours=1),
        "c": NOW - timedelta(days=6),
        "d": NOW - timedelta(days=45),
    }
    actions = missing_data_actions(
        default_rules(), last_readings=last, nudged_since_last=set(), now=NOW
    )
    assert [(a.patient_id, a.action) for a in actions] == [("b", "nudge"), ("c", "task")]


def test_a_patient_nudged_since_the_last_reading_is_not_nudged_again() -> None:
    last = {"b": NOW - timedelta(days=4)}
    actions = missing_data_actions(
        default_rules(), last_readings=last, nudged_since_last={"b"}, now=NOW
    )
    assert actions == []
