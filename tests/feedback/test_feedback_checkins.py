"""Check-ins validated against their Questionnaire, scores recomputed, rules applied."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from careloop.errors import InvalidInput
from careloop.feedback.catalog import default_catalog, load_catalog
from careloop.feedback.checkins import read_checkin
from careloop.feedback.evaluate import NewInput, RecordSnapshot, evaluate
from careloop.feedback.ruleset import default_rules
from tests.conftest import SHARED_DATA
from tests.feedback.loop_payloads import adherence, diary, phq9, touchpoint

NOW = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
PHQ9_DIR = SHARED_DATA / "pro-instruments" / "phq9"
SDC_RESPONSE = PHQ9_DIR / "hl7-sdc-example.questionnaireresponse-sdc-profile-example-PHQ9.json"


def _findings(response: dict, *, history: tuple = ()) -> list:  # type: ignore[type-arg]
    catalog = default_catalog()
    checkin = read_checkin(catalog.get(response["questionnaire"]), response, now=NOW)
    snapshot = RecordSnapshot("p1", checkins=history)
    new = NewInput("p1", checkin=checkin, source="QuestionnaireResponse/x")
    return evaluate(default_rules(), snapshot=snapshot, new_input=new, now=NOW)


def test_the_sdc_example_phq9_with_a_wrong_stored_total_is_flagged() -> None:
    catalog = load_catalog([PHQ9_DIR])
    response = orjson.loads(SDC_RESPONSE.read_bytes())
    with pytest.raises(InvalidInput) as caught:
        read_checkin(catalog.get(response["questionnaire"]), response, now=None)
    assert caught.value.field == "item.H1/TS"
    assert "13" in str(caught.value)
    assert "sum to 10" in str(caught.value)


def test_the_sdc_example_with_its_total_corrected_scores_10() -> None:
    catalog = load_catalog([PHQ9_DIR])
    response = orjson.loads(SDC_RESPONSE.read_bytes())
    response["item"][0]["item"][-1]["answer"][0]["valueQuantity"]["value"] = 10
    checkin = read_checkin(catalog.get(response["questionnaire"]), response, now=None)
    assert checkin.instrument == "phq-9"
    assert checkin.total == 10
    assert checkin.answers["http://loinc.org|44260-8"].ordinal == 1


def test_a_licensed_folder_adds_questionnaires_and_lists_what_it_skipped() -> None:
    catalog = load_catalog([PHQ9_DIR])
    assert catalog.get("44249-1-x")["title"].startswith("PHQ-9")
    assert any("CodeSystem" in s for s in catalog.skipped)


def test_a_licensed_item_set_loaded_from_a_folder_is_validated(tmp_path: Path) -> None:
    licensed = {
        "resourceType": "Questionnaire",
        "id": "licensed-diary",
        "url": "https://example.org/Q/licensed",
        "status": "active",
        "item": [
            {
                "linkId": "item-1",
                "code": [
                    {"system": "https://careloop.dev/fhir/CodeSystem/symptom", "code": "item-1"}
                ],
                "text": "(licensed item text)",
                "type": "integer",
                "extension": [
                    {"url": "http://hl7.org/fhir/StructureDefinition/minValue", "valueInteger": 0},
                    {"url": "http://hl7.org/fhir/StructureDefinition/maxValue", "valueInteger": 4},
                ],
            }
        ],
    }
    (tmp_path / "licensed.json").write_bytes(orjson.dumps(licensed))
    catalog = load_catalog([tmp_path])
    response = {
        "resourceType": "QuestionnaireResponse",
        "questionnaire": "https://example.org/Q/licensed",
        "status": "completed",
        "authored": NOW.isoformat(),
        "item": [{"linkId": "item-1", "answer": [{"valueInteger": 7}]}],
    }
    with pytest.raises(InvalidInput) as caught:
        read_checkin(catalog.get(response["questionnaire"]), response, now=NOW)
    assert caught.value.field == "item.item-1"


def test_a_phq9_total_is_recomputed_and_item_9_raises_an_urgent_alert() -> None:
    findings = _findings(phq9("p1", [1, 1, 0, 2, 1, 0, 0, 0, 1], NOW))
    urgent = [f for f in findings if f.rule_id == "phq9-item9-positive"]
    assert urgent
    assert urgent[0].severity == "urgent"
    assert urgent[0].sla_hours == 1


def test_a_phq9_with_a_wrong_total_is_refused_naming_the_total_item() -> None:
    with pytest.raises(InvalidInput) as caught:
        _findings(phq9("p1", [1, 1, 0, 2, 1, 0, 0, 0, 0], NOW, total=9))
    assert caught.value.field == "item.44261-6"


def test_a_phq9_of_20_or_more_raises_a_high_alert() -> None:
    findings = _findings(phq9("p1", [3, 3, 3, 3, 2, 2, 2, 2, 0], NOW))
    assert [f.rule_id for f in findings] == ["phq9-severe"]


@pytest.mark.parametrize(
    ("item", "answer", "field"),
    [
        ("nausea", {"valueInteger": 5}, "item.nausea"),
        ("pain", {"valueString": "bad"}, "item.pain"),
        ("not-an-item", {"valueInteger": 1}, "item.not-an-item"),
    ],
)
def test_a_bad_diary_answer_is_refused_naming_the_item(item: str, answer: dict, field: str) -> None:  # type: ignore[type-arg]
    response = diary("p1", {}, NOW)
    response["item"].append({"linkId": item, "answer": [answer]})
    response["item"] = [i for i in response["item"] if i["linkId"] != item] + [response["item"][-1]]
    with pytest.raises(InvalidInput) as caught:
        _findings(response)
    assert caught.value.field == field


def test_a_completed_diary_missing_a_required_item_is_refused() -> None:
    response = diary("p1", {}, NOW)
    response["item"] = response["item"][1:]
    with pytest.raises(InvalidInput) as caught:
        _findings(response)
    assert caught.value.field == "item.nausea"


def test_a_check_in_dated_in_the_future_is_refused() -> None:
    with pytest.raises(InvalidInput) as caught:
        _findings(diary("p1", {}, NOW + timedelta(hours=1)))
    assert caught.value.field == "authored"


def test_transportation_as_the_barrier_proposes_a_ride_service() -> None:
    findings = _findings(adherence("p1", 4, NOW, barrier="transportation"))
    proposals = {f.rule_id: f.proposal.kind for f in findings if f.proposal}
    assert proposals == {
        "adherence-missed-doses": "reminder_plan",
        "adherence-transport-barrier": "ride_service",
    }


def test_likelihood_to_recommend_is_0_to_10_and_low_satisfaction_makes_a_task() -> None:
    with pytest.raises(InvalidInput) as caught:
        _findings(touchpoint("p1", 11, 4, NOW))
    assert caught.value.field == "item.likely-to-recommend"
    findings = _findings(touchpoint("p1", 3, 2, NOW))
    assert [(f.rule_id, f.task) for f in findings] == [("touchpoint-dissatisfied", True)]
