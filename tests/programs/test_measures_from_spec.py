"""CMS165, CMS122 and CMS124 (no shared test cases) checked against their specification text."""

from __future__ import annotations

from typing import Any

from fhir_builders import (
    DIABETES,
    DIALYSIS,
    ESSENTIAL_HYPERTENSION,
    HBA1C,
    HPV_TEST,
    HYSTERECTOMY,
    MAMMOGRAM,
    PAP_TEST,
    blood_pressure,
    condition,
    encounter,
    lab,
    patient,
    procedure,
)

from careloop.programs.measures import service
from careloop.programs.measures.evaluate import evaluate_patient

START, END = service.parse_period("2025-01-01/2025-12-31")


def evaluate(
    cms: str, resources: list[dict[str, Any]], *, outreach: bool = False
) -> dict[str, Any]:
    measure = service.find_measure(cms)
    return evaluate_patient([measure], resources, start=START, end=END, outreach=outreach)[0]


def hypertensive(*extra: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        patient(birth="1965-04-02", gender="male"),
        condition(code=ESSENTIAL_HYPERTENSION, onset="2020-01-01"),
        encounter(day="2025-03-01"),
        *extra,
    ]


def test_cms165_last_reading_150_over_95_is_not_controlled() -> None:
    result = evaluate(
        "CMS165", hypertensive(blood_pressure(day="2025-09-01", systolic=150, diastolic=95))
    )

    assert result["groups"] == [
        {"initial-population": 1, "denominator": 1, "denominator-exclusion": 0, "numerator": 0}
    ]
    assert result["care_gap"] is True
    assert "150/95" in result["reason"]


def test_cms165_uses_the_most_recent_day_not_an_earlier_good_reading() -> None:
    resources = hypertensive(
        blood_pressure(day="2025-02-01", systolic=120, diastolic=70),
        blood_pressure(day="2025-10-01", systolic=145, diastolic=80),
    )

    assert evaluate("CMS165", resources)["groups"][0]["numerator"] == 0


def test_cms165_lowest_systolic_and_diastolic_of_the_last_day_count() -> None:
    resources = hypertensive(
        blood_pressure(day="2025-10-01", systolic=150, diastolic=85),
        blood_pressure(day="2025-10-01", systolic=135, diastolic=92),
    )

    assert evaluate("CMS165", resources)["groups"][0]["numerator"] == 1


def test_cms165_readings_taken_in_the_emergency_department_do_not_count() -> None:
    resources = hypertensive(
        encounter(day="2025-11-01", eid="er", klass="EMER"),
        blood_pressure(day="2025-05-01", systolic=128, diastolic=78),
        blood_pressure(day="2025-11-01", systolic=170, diastolic=100, encounter_id="er"),
    )

    assert evaluate("CMS165", resources)["groups"][0]["numerator"] == 1


def test_cms165_hypertension_diagnosed_after_june_is_not_in_the_population() -> None:
    resources = [
        patient(birth="1965-04-02", gender="male"),
        condition(code=ESSENTIAL_HYPERTENSION, onset="2025-07-01"),
        encounter(day="2025-03-01"),
    ]

    assert evaluate("CMS165", resources)["groups"][0]["initial-population"] == 0


def test_cms165_dialysis_excludes() -> None:
    result = evaluate("CMS165", hypertensive(procedure(code=DIALYSIS, day="2024-05-01")))

    assert result["groups"][0]["denominator-exclusion"] == 1
    assert result["care_gap"] is False


def diabetic(*extra: dict[str, Any], birth: str = "1970-01-01") -> list[dict[str, Any]]:
    return [
        patient(birth=birth),
        condition(code=DIABETES, onset="2015-01-01"),
        encounter(day="2025-02-01"),
        *extra,
    ]


def test_cms122_hba1c_above_nine_is_in_the_inverse_numerator() -> None:
    result = evaluate("CMS122", diabetic(lab(code=HBA1C, day="2025-06-01", percent=9.5)))

    assert result["groups"][0]["numerator"] == 1
    assert result["care_gap"] is True
    assert "9.5 %" in result["reason"]


def test_cms122_controlled_hba1c_is_not_a_gap() -> None:
    result = evaluate("CMS122", diabetic(lab(code=HBA1C, day="2025-06-01", percent=7.1)))

    assert result["groups"][0]["numerator"] == 0
    assert result["care_gap"] is False


def test_cms122_no_test_in_the_period_counts_as_poor_control() -> None:
    result = evaluate("CMS122", diabetic(lab(code=HBA1C, day="2024-06-01", percent=6.0)))

    assert result["groups"][0]["numerator"] == 1
    assert result["reason"] == "no HbA1c or GMI test recorded in the period"


def test_cms122_lowest_result_of_the_most_recent_day_counts() -> None:
    resources = diabetic(
        lab(code=HBA1C, day="2025-08-01", percent=10.2),
        lab(code=HBA1C, day="2025-08-01", percent=8.4),
    )

    assert evaluate("CMS122", resources)["groups"][0]["numerator"] == 0


def test_cms122_patients_over_75_are_not_in_the_population() -> None:
    result = evaluate("CMS122", diabetic(birth="1948-06-01"))

    assert result["groups"][0]["initial-population"] == 0


def woman(*extra: dict[str, Any], birth: str = "1990-01-01") -> list[dict[str, Any]]:
    return [patient(birth=birth), encounter(day="2025-04-01"), *extra]


def test_cms124_pap_test_within_three_years_meets_the_numerator() -> None:
    result = evaluate("CMS124", woman(lab(code=PAP_TEST, day="2023-06-01")))

    assert result["groups"][0]["numerator"] == 1


def test_cms124_pap_test_four_years_ago_is_a_gap() -> None:
    result = evaluate("CMS124", woman(lab(code=PAP_TEST, day="2022-06-01")))

    assert result["groups"][0]["numerator"] == 0
    assert result["care_gap"] is True


def test_cms124_hpv_test_within_five_years_at_age_30_or_older_counts() -> None:
    result = evaluate("CMS124", woman(lab(code=HPV_TEST, day="2021-03-01"), birth="1985-01-01"))

    assert result["groups"][0]["numerator"] == 1


def test_cms124_hpv_test_before_age_30_does_not_count() -> None:
    result = evaluate("CMS124", woman(lab(code=HPV_TEST, day="2024-03-01"), birth="1996-01-01"))

    assert result["groups"][0]["numerator"] == 0


def test_cms124_hysterectomy_excludes() -> None:
    result = evaluate("CMS124", woman(procedure(code=HYSTERECTOMY, day="2019-01-01")))

    assert result["groups"][0]["denominator-exclusion"] == 1
    assert result["reason"] == "excluded: has no cervix"


def test_cms124_men_are_not_in_the_population() -> None:
    resources = [patient(birth="1990-01-01", gender="male"), encounter(day="2025-04-01")]

    assert evaluate("CMS124", resources)["groups"][0]["initial-population"] == 0


def test_outreach_mode_drops_the_qualifying_visit_requirement() -> None:
    no_visit = [patient(birth="1965-01-01")]

    official = evaluate("CMS125", no_visit)
    outreach = evaluate("CMS125", no_visit, outreach=True)

    assert official["groups"][0]["initial-population"] == 0
    assert official["care_gap"] is False
    assert outreach["groups"][0]["denominator"] == 1
    assert outreach["care_gap"] is True
    assert outreach["reason"] == "no mammogram on record since 2023-10-01"


def test_a_recent_mammogram_closes_the_gap() -> None:
    result = evaluate(
        "CMS125",
        [
            patient(birth="1965-01-01"),
            encounter(day="2025-02-01"),
            lab(code=MAMMOGRAM, day="2024-11-01"),
        ],
    )

    assert result["groups"][0]["numerator"] == 1
    assert result["care_gap"] is False


def test_outreach_mode_never_flags_a_deceased_patient() -> None:
    deceased = dict(patient(birth="1965-01-01"), deceasedDateTime="2024-02-01T00:00:00Z")

    result = evaluate("CMS125", [deceased], outreach=True)

    assert result["care_gap"] is False
    assert result["reason"] == "patient is deceased"
