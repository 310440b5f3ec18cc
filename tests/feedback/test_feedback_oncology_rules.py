"""Oncology rules, case by case from their sources (pure engine, real FHIR payloads).

ASCO/IDSA 2018 (Taplitz et al., JCO 36:1443): fever in a patient on myelosuppressive
therapy is >= 38.3 C once or >= 38.0 C sustained over an hour; patients call at 38.0 C.
Basch 2016 / PRO-TECT: alert on grade >= 3, or on a rise of >= 2 grades since the previous
report. PRO-CTCAE / CTCAE: grade 4 is life-threatening.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from careloop.feedback.catalog import default_catalog
from careloop.feedback.checkins import read_checkin
from careloop.feedback.evaluate import Finding, NewInput, RecordSnapshot, evaluate
from careloop.feedback.readings import read_observation
from careloop.feedback.ruleset import Severity, default_rules
from careloop.feedback.therapy import active_therapy, is_antineoplastic
from tests.feedback.loop_payloads import (
    RXNORM,
    chemotherapy_given,
    diary,
    temperature,
)

NOW = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
ON_THERAPY = ("MedicationAdministration/ma-1",)


def _temperature_findings(
    observation: dict, *, history: list[dict] = (), therapy=ON_THERAPY
) -> list[Finding]:  # type: ignore[assignment,type-arg]
    past = tuple(r for o in history for r in read_observation(o, now=None))
    snapshot = RecordSnapshot("p1", readings=past, active_therapy=therapy)
    new = NewInput("p1", readings=tuple(read_observation(observation, now=NOW)))
    return evaluate(default_rules(), snapshot=snapshot, new_input=new, now=NOW)


def _diary_findings(
    grades: dict[str, int], *, history: list[dict] = (), therapy=()
) -> list[Finding]:  # type: ignore[assignment,type-arg]
    q = default_catalog().get(diary("p1", {}, NOW)["questionnaire"])
    past = tuple(read_checkin(q, r, now=None) for r in history)
    checkin = read_checkin(q, diary("p1", grades, NOW), now=NOW)
    snapshot = RecordSnapshot("p1", checkins=past, active_therapy=therapy)
    return evaluate(
        default_rules(), snapshot=snapshot, new_input=NewInput("p1", checkin=checkin), now=NOW
    )


def test_38_3_celsius_ten_days_after_chemotherapy_is_urgent_with_a_minutes_sla() -> None:
    (finding,) = _temperature_findings(temperature("p1", 38.3, NOW))
    assert (finding.rule_id, finding.severity) == ("febrile-neutropenia", Severity.URGENT)
    assert finding.sla_hours == 0.25
    assert finding.values["meets_idsa_definition"] is True
    assert finding.patient_message == "fever_on_therapy"
    assert any("ASCO/IDSA" in e for e in finding.evidence)


@pytest.mark.parametrize(
    ("code", "value", "unit"),
    [
        ("8331-1", 38.3, "Cel"),  # oral
        ("8333-7", 38.3, "Cel"),  # tympanic
        ("8310-5", 100.9, "[degF]"),  # 38.28 C
        ("8331-1", 100.4, "[degF]"),  # 38.0 C: the call threshold
        ("76011-6", 101.0, "[degF]"),  # ear
    ],
)
def test_any_temperature_site_code_and_unit_is_judged_in_celsius(
    code: str, value: float, unit: str
) -> None:
    findings = _temperature_findings(temperature("p1", value, NOW, unit=unit, code=code))
    assert [f.rule_id for f in findings] == ["febrile-neutropenia"]


def test_37_9_celsius_is_not_a_fever() -> None:
    assert _temperature_findings(temperature("p1", 37.9, NOW, code="8331-1")) == []


def test_100_2_fahrenheit_is_not_a_fever() -> None:
    assert _temperature_findings(temperature("p1", 100.2, NOW, unit="[degF]")) == []


def test_the_same_fever_without_active_therapy_raises_nothing() -> None:
    assert _temperature_findings(temperature("p1", 38.5, NOW), therapy=()) == []


def test_38_0_sustained_over_an_hour_meets_the_idsa_definition() -> None:
    earlier = [temperature("p1", 38.1, NOW - timedelta(minutes=70))]
    (finding,) = _temperature_findings(temperature("p1", 38.0, NOW), history=earlier)
    assert finding.values["meets_idsa_definition"] is True
    (single,) = _temperature_findings(temperature("p1", 38.0, NOW))
    assert single.values["meets_idsa_definition"] is False  # still urgent: call threshold
    assert single.severity is Severity.URGENT


def test_fever_or_chills_a_lot_is_urgent_even_off_therapy() -> None:
    (finding,) = _diary_findings({"fever-chills": 3})
    assert (finding.rule_id, finding.severity) == ("symptom-emergency", Severity.URGENT)


def test_any_reported_fever_on_therapy_is_febrile_neutropenia() -> None:
    (finding,) = _diary_findings({"fever-chills": 1}, therapy=ON_THERAPY)
    assert finding.rule_id == "febrile-neutropenia-reported"
    assert finding.sla_hours == 0.25


def test_fever_a_lot_on_therapy_is_one_alert_not_three() -> None:
    findings = _diary_findings({"fever-chills": 4}, therapy=ON_THERAPY)
    assert [f.rule_id for f in findings] == ["febrile-neutropenia-reported"]


def test_a_fever_report_says_what_the_grade_means_and_shows_the_temperature() -> None:
    """Finding 16: "fever-chills 3" gave the nurse a number with no meaning, no reading."""
    q = default_catalog().get(diary("p1", {}, NOW)["questionnaire"])
    taken = tuple(read_observation(temperature("p1", 38.6, NOW - timedelta(hours=2)), now=None))
    snapshot = RecordSnapshot("p1", readings=taken, active_therapy=ON_THERAPY)
    checkin = read_checkin(q, diary("p1", {"fever-chills": 3}, NOW), now=NOW)
    (finding,) = evaluate(
        default_rules(), snapshot=snapshot, new_input=NewInput("p1", checkin=checkin), now=NOW
    )
    assert finding.summary == (
        "Symptoms reported: fever/chills: 3 of 4 (a lot), severe · temperature 38.6 °C."
    )


def test_a_reported_and_a_measured_fever_share_one_card() -> None:
    by_report = _diary_findings({"fever-chills": 2}, therapy=ON_THERAPY)
    by_reading = _temperature_findings(temperature("p1", 38.6, NOW))
    assert {f.card for f in [*by_report, *by_reading]} == {"febrile-neutropenia"}


@pytest.mark.parametrize("symptom", ["chest-pain", "confusion"])
def test_emergency_symptoms_are_urgent(symptom: str) -> None:
    (finding,) = _diary_findings({symptom: 1})
    assert (finding.rule_id, finding.severity) == ("symptom-emergency", Severity.URGENT)


def test_shortness_of_breath_a_lot_is_urgent_a_little_is_not() -> None:
    assert [f.severity for f in _diary_findings({"shortness-of-breath": 3})] == [Severity.URGENT]
    assert _diary_findings({"shortness-of-breath": 1}) == []


def test_grade_4_is_urgent_and_grade_3_is_high() -> None:
    (four,) = _diary_findings({"nausea": 4})
    (three,) = _diary_findings({"nausea": 3})
    assert (four.rule_id, four.severity) == ("symptom-grade-4", Severity.URGENT)
    assert (three.rule_id, three.severity) == ("symptom-severe-or-worsening", Severity.HIGH)


def test_worsening_is_measured_against_the_previous_report_not_the_first() -> None:
    first = diary("p1", {"pain": 0}, NOW - timedelta(days=14))
    previous = diary("p1", {"pain": 1}, NOW - timedelta(days=7))
    # 0 -> 1 -> 2: two grades above the first diary, one above the previous: no alert.
    assert _diary_findings({"pain": 2}, history=[first, previous]) == []
    first_high = diary("p1", {"pain": 2}, NOW - timedelta(days=14))
    previous_low = diary("p1", {"pain": 0}, NOW - timedelta(days=7))
    (finding,) = _diary_findings({"pain": 2}, history=[first_high, previous_low])
    assert finding.values["symptoms"]["pain"]["previous"] == 0


def test_mild_stable_symptoms_raise_nothing() -> None:
    history = [diary("p1", {"fatigue": 1, "nausea": 1}, NOW - timedelta(days=7))]
    assert _diary_findings({"fatigue": 1, "nausea": 1}, history=history) == []


@settings(max_examples=80, deadline=None)
@given(
    previous=st.integers(0, 4),
    grade=st.integers(0, 4),
    symptom=st.sampled_from(["nausea", "pain", "fatigue", "diarrhea", "rash"]),
)
def test_basch_rule_alerts_exactly_on_grade_3_or_a_rise_of_2(
    previous: int, grade: int, symptom: str
) -> None:
    history = [diary("p1", {symptom: previous}, NOW - timedelta(days=7))]
    findings = _diary_findings({symptom: grade}, history=history)
    expected = grade >= 3 or grade - previous >= 2
    assert bool(findings) == expected
    if findings:
        (finding,) = findings
        assert finding.severity is (Severity.URGENT if grade == 4 else Severity.HIGH)


def test_active_therapy_is_derived_from_medications_and_procedures() -> None:
    recent = chemotherapy_given("p1", NOW - timedelta(days=10))
    old = chemotherapy_given("p1", NOW - timedelta(days=90))
    request = {
        "resourceType": "MedicationRequest",
        "id": "mr-1",
        "status": "active",
        "intent": "order",
        "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": "3002"}]},
    }
    procedure = {
        "resourceType": "Procedure",
        "id": "pr-1",
        "status": "completed",
        "code": {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "96413"}]},
        "performedDateTime": (NOW - timedelta(days=3)).isoformat(),
    }
    assert active_therapy([recent], now=NOW) == (f"MedicationAdministration/{recent['id']}",)
    assert active_therapy([old], now=NOW) == ()
    assert active_therapy([request, procedure], now=NOW) == (
        "MedicationRequest/mr-1",
        "Procedure/pr-1",
    )


def test_antineoplastic_matches_by_atc_class_and_not_by_an_unrelated_drug() -> None:
    atc = {"coding": [{"system": "http://www.whocc.no/atc", "code": "L01XE01"}]}
    statin = {"coding": [{"system": RXNORM, "code": "83367", "display": "atorvastatin"}]}
    assert is_antineoplastic(atc)
    assert not is_antineoplastic(statin)


def test_gad7_in_its_loinc_form_is_scored_from_loinc_answer_codes() -> None:
    q = default_catalog().get("http://loinc.org/q/69737-5")
    codes = ["69725-0", "68509-8", "69733-0", "69734-8", "69735-5", "69689-4", "69736-3"]
    answers = ["LA6568-5", "LA6569-3", "LA6570-1", "LA6571-9", "LA6569-3", "LA6568-5", "LA6570-1"]
    response = {
        "resourceType": "QuestionnaireResponse",
        "questionnaire": "http://loinc.org/q/69737-5|2.72",
        "status": "completed",
        "authored": NOW.isoformat(),
        "item": [
            {"linkId": f"/69737-5/{c}", "answer": [{"valueCoding": {"code": a}}]}
            for c, a in zip(codes, answers, strict=True)
        ],
    }
    checkin = read_checkin(q, response, now=NOW)
    assert checkin.total == 9  # 0+1+2+3+1+0+2 (Spitzer 2006: 5-9 mild)
    assert checkin.answers["http://loinc.org|70274-6"].number == 9


def test_promis_global10_structure_accepts_a_response_by_item_id_without_bundled_text() -> None:
    q = default_catalog().get("http://loinc.org/q/61577-3")
    assert all("text" not in item for item in q["item"])  # licensed text is not shipped
    response = {
        "resourceType": "QuestionnaireResponse",
        "questionnaire": "http://loinc.org/q/61577-3",
        "status": "completed",
        "authored": NOW.isoformat(),
        "item": [
            {"linkId": f"Global{n:02d}", "answer": [{"valueInteger": 7 if n == 7 else 3}]}
            for n in range(1, 11)
        ],
    }
    answers = read_checkin(q, response, now=NOW).answers
    assert len(answers) == 14  # the ten items and the four summary scores


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("2555", True),  # cisplatin, the RxNorm ingredient
        ("1736854", True),  # Cisplatin 50 MG Injection, an RxNorm clinical drug (Synthea)
        ("1790099", True),  # 10 ML Doxorubicin Hydrochloride 2 MG/ML Injection
        ("1860480", True),  # 1 ML DOCEtaxel 20 MG/ML Injection (the shared Synthea sample)
        ("313782", False),  # Acetaminophen 325 MG Oral Tablet
        ("1803932", False),  # Leucovorin 100 MG Injection: given with chemo, not one itself
    ],
)
def test_a_medication_coded_by_rxnorm_alone_is_judged_by_its_code(
    code: str, expected: bool
) -> None:
    concept = {"coding": [{"system": RXNORM, "code": code}]}  # no display, no ATC code
    assert is_antineoplastic(concept) is expected


def test_a_chemotherapy_procedure_by_snomed_or_cpt_shows_therapy_and_others_do_not() -> None:
    def procedure(system: str, code: str) -> dict:  # type: ignore[type-arg]
        return {
            "resourceType": "Procedure",
            "id": f"pr-{code}",
            "status": "completed",
            "code": {"coding": [{"system": system, "code": code}]},
            "performedDateTime": (NOW - timedelta(days=5)).isoformat(),
        }

    snomed, cpt = "http://snomed.info/sct", "http://www.ama-assn.org/go/cpt"
    assert active_therapy([procedure(snomed, "265760000")], now=NOW) == ("Procedure/pr-265760000",)
    assert active_therapy([procedure(cpt, "96549")], now=NOW) == ("Procedure/pr-96549",)
    assert active_therapy([procedure(cpt, "96400")], now=NOW) == ()  # outside 96401-96549
    assert active_therapy([procedure(snomed, "399208008")], now=NOW) == ()  # chest X-ray
