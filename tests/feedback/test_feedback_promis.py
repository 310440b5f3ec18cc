"""PROMIS Global-10 in its LOINC form: scored to GPH / GMH raw and T-scores, rules on them.

Cases from the sources: the HL7 PACIO-PFE worked example (QuestionnaireResponse 4805:
GPH raw 15 = T 47.7, GMH raw 14 = T 48.3) and the PROMIS Global Health scoring tables;
the rules use the HealthMeasures cut points ("poor": GMH < 29, GPH < 35).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from careloop.errors import InvalidInput
from careloop.feedback.catalog import default_catalog
from careloop.feedback.checkins import read_checkin
from careloop.feedback.evaluate import NewInput, RecordSnapshot, evaluate
from careloop.feedback.promis import ITEM_CODES, t_score_table
from careloop.feedback.ruleset import Severity, default_rules
from careloop.runtime import Runtime
from tests.feedback.loop_payloads import add_patients

NOW = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
URL = "http://loinc.org/q/85524-7"
LOINC = "http://loinc.org"
# PACIO-PFE QuestionnaireResponse 4805, answers by PROMIS item (Global07 pain on 0-10).
PACIO_4805 = {
    "Global01": 2,
    "Global02": 3,
    "Global03": 3,
    "Global04": 4,
    "Global05": 4,
    "Global06": 4,
    "Global07": 3,
    "Global08": 4,
    "Global09": 3,
    "Global10": 3,
}


def response(
    answers: dict[str, int],
    *,
    patient: str = "p1",
    extra: list[dict[str, Any]] = (),  # type: ignore[assignment]
) -> dict[str, Any]:
    """A Global-10 as an EHR sends it: LOINC canonical, linkIds the LOINC paths."""
    items = [
        {"linkId": f"/85524-7/{ITEM_CODES[item]}", "answer": [{"valueInteger": value}]}
        for item, value in answers.items()
    ]
    return {
        "resourceType": "QuestionnaireResponse",
        "id": f"qr-{uuid.uuid4().hex[:10]}",
        "questionnaire": URL,
        "status": "completed",
        "subject": {"reference": f"Patient/{patient}"},
        "authored": NOW.isoformat(),
        "item": [{"linkId": "/85524-7", "item": items + list(extra)}],
    }


def _scores(answers: dict[str, int], **kwargs: Any) -> dict[str, float | None]:
    checkin = read_checkin(default_catalog().get(URL), response(answers, **kwargs), now=NOW)
    return {code: checkin.answers[f"{LOINC}|{code}"].number for code in _CODES}


_CODES = ("71972-4", "71971-6", "71970-8", "71969-0")


def test_the_pacio_worked_example_scores_as_published() -> None:
    assert _scores(PACIO_4805) == {
        "71972-4": 15.0,
        "71971-6": 47.7,
        "71970-8": 14.0,
        "71969-0": 48.3,
    }


def test_the_extremes_of_the_published_tables() -> None:
    best = dict.fromkeys(ITEM_CODES, 5) | {"Global07": 0}
    worst = dict.fromkeys(ITEM_CODES, 1) | {"Global07": 10}
    assert _scores(best) == {"71972-4": 20, "71971-6": 67.7, "71970-8": 20, "71969-0": 67.6}
    assert _scores(worst) == {"71972-4": 4, "71971-6": 16.2, "71970-8": 4, "71969-0": 21.2}


def test_a_stored_t_score_that_disagrees_with_the_answers_is_refused_naming_it() -> None:
    wrong = [{"linkId": "/85524-7/71969-0", "answer": [{"valueDecimal": 58.0}]}]
    with pytest.raises(InvalidInput) as refused:
        _scores(PACIO_4805, extra=wrong)
    assert refused.value.field == "item.71969-0"
    right = [{"linkId": "/85524-7/71969-0", "answer": [{"valueDecimal": 48.3}]}]
    assert _scores(PACIO_4805, extra=right)["71969-0"] == 48.3


def test_a_completed_form_missing_an_item_is_refused_naming_it() -> None:
    partial = {k: v for k, v in PACIO_4805.items() if k != "Global05"}
    with pytest.raises(InvalidInput) as refused:
        _scores(partial)
    assert refused.value.field == "item.Global05"


def test_the_old_canonical_still_finds_the_form() -> None:
    assert default_catalog().get("http://loinc.org/q/61577-3")["url"] == URL


@given(
    st.fixed_dictionaries(
        {
            item: st.integers(0, 10) if item == "Global07" else st.integers(1, 5)
            for item in ITEM_CODES
        }
    )
)
def test_t_scores_rise_with_the_raw_score_and_match_the_table(answers: dict[str, int]) -> None:
    scores = _scores(answers)
    table = t_score_table()
    assert 4 <= scores["71972-4"] <= 20
    assert 4 <= scores["71970-8"] <= 20
    assert scores["71971-6"] == table["gph_t"][int(scores["71972-4"])]  # type: ignore[arg-type]
    assert scores["71969-0"] == table["gmh_t"][int(scores["71970-8"])]  # type: ignore[arg-type]
    for column in ("gph_t", "gmh_t"):
        values = [table[column][raw] for raw in range(4, 21)]
        assert values == sorted(values)


def _findings(answers: dict[str, int]) -> list[tuple[str, Severity]]:
    checkin = read_checkin(default_catalog().get(URL), response(answers), now=NOW)
    found = evaluate(
        default_rules(),
        snapshot=RecordSnapshot("p1"),
        new_input=NewInput("p1", checkin=checkin),
        now=NOW,
    )
    return [(f.rule_id, f.severity) for f in found]


def test_poor_global_mental_health_is_high_and_fair_raises_nothing() -> None:
    # GMH raw 6 (T 28.4, "poor"); GPH raw 12 (T 39.8, "fair")
    poor = PACIO_4805 | {"Global02": 2, "Global04": 1, "Global05": 2, "Global10": 1}
    assert _findings(poor) == [("promis-global-mental-poor", Severity.HIGH)]
    # GMH raw 7 (T 31.3, "fair"): no alert
    fair = poor | {"Global05": 3}
    assert _findings(fair) == []


def test_poor_global_physical_health_is_routine() -> None:
    # GPH: 2 + 2 + pain 8 (rc 2) + fatigue 2 = 8 (T 29.6, "poor")
    poor = PACIO_4805 | {"Global03": 2, "Global06": 2, "Global07": 8, "Global08": 2}
    assert _findings(poor) == [("promis-global-physical-poor", Severity.ROUTINE)]
    assert _findings(PACIO_4805) == []


def test_a_global10_posted_over_fhir_puts_poor_mental_health_on_the_worklist(
    rt: Runtime, tmp_path: Path, api_client: Any
) -> None:
    add_patients(rt, tmp_path, "pr-1")
    nurse = api_client("clinician")
    poor = PACIO_4805 | {"Global02": 1, "Global04": 1, "Global05": 1, "Global10": 1}
    body = response(poor, patient="pr-1") | {"authored": rt.clock.now().isoformat()}
    assert nurse.post("/fhir/QuestionnaireResponse", json=body).status_code == 201
    (entry,) = nurse.get("/api/worklist").json()
    assert (entry["rule_id"], entry["severity"]) == ("promis-global-mental-poor", "high")


def test_a_licensed_copy_with_its_own_link_ids_is_scored_by_the_item_codes() -> None:
    from careloop.feedback.catalog import Catalog

    licensed = {
        "resourceType": "Questionnaire",
        "id": "promis-licensed",
        "url": "https://example.org/Questionnaire/promis-global",
        "item": [
            {
                "linkId": f"q{n}",
                "code": [{"system": LOINC, "code": code}],
                "text": "(licensed item text)",
                "type": "integer",
                "required": True,
            }
            for n, code in enumerate(ITEM_CODES.values(), start=1)
        ],
    }
    catalog = Catalog()
    catalog.add(licensed)
    body = {
        "resourceType": "QuestionnaireResponse",
        "questionnaire": licensed["url"],
        "status": "completed",
        "authored": NOW.isoformat(),
        "item": [
            {"linkId": f"q{n}", "answer": [{"valueInteger": PACIO_4805[item]}]}
            for n, item in enumerate(ITEM_CODES, start=1)
        ],
    }
    checkin = read_checkin(catalog.get(licensed["url"]), body, now=NOW)
    assert checkin.answers[f"{LOINC}|71971-6"].number == 47.7
    assert checkin.answers[f"{LOINC}|71969-0"].number == 48.3
