"""Issue 14 through the public interfaces: FHIR REST, SMS check-in, MQTT and the portal.

A nurse's cases: 38.3 C ten days after chemotherapy, the same in F from a tympanic
thermometer, 37.9 C (nothing), fever "a lot" in the diary, a PHQ-9 without item 9 (refused
when completed, a task when the sender could not re-ask), the LOINC form of PHQ-9, and the
patient told what to do now on the channel they used, in their language.
"""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from careloop.careteam.mqtt_ingest import make_processor
from careloop.careteam.worklist import list_worklist
from careloop.channels.keywords import Keyword
from careloop.clock import FrozenClock
from careloop.feedback.mqtt import run_ingest
from careloop.outreach.eligibility import Candidate
from careloop.runtime import Runtime
from tests.feedback.loop_payloads import (
    PHQ9_ANSWERS,
    PHQ9_ITEMS,
    add_patients,
    chemotherapy_given,
    diary,
    import_resources,
    register_devices,
    temperature,
)
from tests.outreach.conftest import (
    SCREENING,
    Loop,
    add_procedure,
    program,
    reply,
)

DIARY = "https://careloop.dev/fhir/Questionnaire/oncology-symptom-diary"
BROKER = ("127.0.0.1", 1883)


def _advice(outcome: dict[str, Any]) -> list[str]:
    """The patient advice an app is asked to show (issues coded in careloop's advice system)."""
    return [
        coding["code"]
        for entry in outcome["issue"]
        for coding in entry.get("details", {}).get("coding", [])
        if coding["system"].endswith("/patient-advice")
    ]


def _on_chemo(rt: Runtime, tmp_path: Path, pid: str, clock: FrozenClock) -> None:
    add_patients(rt, tmp_path, pid)
    import_resources(rt, tmp_path, chemotherapy_given(pid, clock.now() - timedelta(days=10)))


def test_38_3_c_ten_days_after_chemotherapy_is_urgent_with_a_15_minute_deadline(
    rt: Runtime, clock: FrozenClock, tmp_path: Path, api_client: Any
) -> None:
    _on_chemo(rt, tmp_path, "fn-1", clock)
    nurse = api_client("clinician")
    response = nurse.post(
        "/fhir/Observation",
        json=temperature("fn-1", 38.3, clock.now()),
        headers={"Prefer": "return=OperationOutcome"},
    )
    assert response.status_code == 201
    assert _advice(response.json()) == ["fever_on_therapy"]
    (entry,) = nurse.get("/api/worklist").json()
    assert (entry["rule_id"], entry["severity"]) == ("febrile-neutropenia", "urgent")
    assert entry["due_at"].startswith(
        (clock.now() + timedelta(minutes=15)).strftime("%Y-%m-%dT%H:%M")
    )


def test_one_fever_reported_and_measured_is_one_urgent_card_with_the_reading(
    rt: Runtime, clock: FrozenClock, tmp_path: Path, api_client: Any
) -> None:
    """Finding 16: the same fever raised two urgent cards, one saying only "fever-chills 3"."""
    _on_chemo(rt, tmp_path, "fn-9", clock)
    nurse = api_client("clinician")
    assert nurse.post("/fhir/Observation", json=temperature("fn-9", 38.6, clock.now())).is_success
    clock.advance(timedelta(minutes=5))
    answered = nurse.post(
        "/fhir/QuestionnaireResponse", json=diary("fn-9", {"fever-chills": 3}, clock.now())
    )
    assert answered.is_success
    (entry,) = nurse.get("/api/worklist").json()
    assert entry["severity"] == "urgent"
    assert entry["occurrences"] == 2
    assert "fever/chills: 3 of 4 (a lot)" in entry["latest"]["summary"]
    assert "temperature 38.6 °C" in entry["latest"]["summary"]


def test_fahrenheit_oral_and_tympanic_codes_are_accepted_and_37_9_c_raises_nothing(
    rt: Runtime, clock: FrozenClock, tmp_path: Path, api_client: Any
) -> None:
    _on_chemo(rt, tmp_path, "fn-2", clock)
    nurse = api_client("clinician")
    normal = nurse.post(
        "/fhir/Observation", json=temperature("fn-2", 37.9, clock.now(), code="8331-1")
    )
    assert normal.status_code == 201
    assert nurse.get("/api/worklist").json() == []
    fever = nurse.post(
        "/fhir/Observation",
        json=temperature("fn-2", 101.1, clock.now(), unit="[degF]", code="8333-7"),
    )
    assert fever.status_code == 201
    assert [e["rule_id"] for e in nurse.get("/api/worklist").json()] == ["febrile-neutropenia"]


def test_a_completed_phq9_without_item_9_is_refused_naming_the_item(
    rt: Runtime, clock: FrozenClock, tmp_path: Path, api_client: Any
) -> None:
    add_patients(rt, tmp_path, "ph-1")
    response = api_client("clinician").post(
        "/fhir/QuestionnaireResponse", json=_loinc_phq9("ph-1", clock, skip_item_9=True)
    )
    assert response.status_code == 422
    assert response.json()["issue"][0]["expression"] == ["item.44260-8"]


def test_an_in_progress_phq9_without_item_9_puts_asking_it_on_the_worklist(
    rt: Runtime, clock: FrozenClock, tmp_path: Path, api_client: Any
) -> None:
    add_patients(rt, tmp_path, "ph-2")
    nurse = api_client("clinician")
    partial = _loinc_phq9("ph-2", clock, skip_item_9=True) | {"status": "in-progress"}
    assert nurse.post("/fhir/QuestionnaireResponse", json=partial).status_code == 201
    (entry,) = nurse.get("/api/worklist").json()
    assert (entry["kind"], entry["severity"]) == ("task", "high")
    assert "item 9" in entry["title"]


def test_the_loinc_form_of_phq9_is_scored_and_a_positive_item_9_is_urgent(
    rt: Runtime, clock: FrozenClock, tmp_path: Path, api_client: Any
) -> None:
    add_patients(rt, tmp_path, "ph-3")
    nurse = api_client("clinician")
    response = nurse.post(
        "/fhir/QuestionnaireResponse",
        json=_loinc_phq9("ph-3", clock, item_9=1),
        headers={"Prefer": "return=OperationOutcome"},
    )
    assert response.status_code == 201
    assert _advice(response.json()) == ["self_harm"]
    (entry,) = nurse.get("/api/worklist").json()
    assert (entry["rule_id"], entry["severity"]) == ("phq9-item9-positive", "urgent")


def _loinc_phq9(
    pid: str, clock: FrozenClock, *, skip_item_9: bool = False, item_9: int = 0
) -> dict[str, Any]:
    """A PHQ-9 as LHC-Forms and EHRs send it: LOINC canonical, linkIds ``/<code>``."""
    items = []
    for code in PHQ9_ITEMS:
        if code == "44260-8" and skip_item_9:
            continue
        answer, display = PHQ9_ANSWERS[item_9 if code == "44260-8" else 1]
        items.append(
            {
                "linkId": f"/{code}",
                "answer": [{"valueCoding": {"code": answer, "display": display}}],
            }
        )
    return {
        "resourceType": "QuestionnaireResponse",
        "id": f"qr-{uuid.uuid4().hex[:10]}",
        "questionnaire": "http://loinc.org/q/44249-1",
        "status": "completed",
        "subject": {"reference": f"Patient/{pid}"},
        "authored": clock.now().isoformat(),
        "item": items,
    }


def test_fever_a_lot_by_sms_on_chemo_is_urgent_and_the_patient_is_told_what_to_do_in_spanish(
    rt: Runtime, make_loop: Callable[..., Loop], tmp_path: Path
) -> None:
    import_resources(
        rt,
        tmp_path,
        {
            "resourceType": "Patient",
            "id": "sms-1",
            "name": [{"family": "Test", "given": ["Rosa"]}],
            "telecom": [{"system": "phone", "value": "+15550100081", "use": "mobile"}],
            "communication": [
                {"language": {"coding": [{"system": "urn:ietf:bcp:47", "code": "es"}]}}
            ],
        },
    )
    add_procedure(rt, patient_id="sms-1", code="367336001", when=rt.clock.now() - timedelta(days=8))
    steps = [{"id": "weekly", "message": "symptom_checkin_prompt", "questionnaire": DIARY}]
    loop = make_loop(
        [program(SCREENING, actions={"channels": ["sms"]}, steps=steps)],
        {"screening-test": [Candidate("sms-1", "2026")]},
    )
    loop.tick()
    loop.advance(timedelta(days=1))
    loop.work()
    # 15 questions; the 8th is fever or chills ("3" = a lot).
    answers = ["0"] * 7 + ["3"] + ["0"] * 7
    for index, text in enumerate(answers):
        reply(
            loop, sender="+15550100081", body=text, keyword=Keyword.CHECKIN_ANSWER, sid=f"S{index}"
        )
        loop.work()
    bodies = [m.body for m in loop.sms.sent_to("+15550100081")]
    assert any(b.startswith("(1/15) ¿Náuseas") for b in bodies)  # questions in Spanish too
    assert any("Responda un número del 0 al 4." in b for b in bodies)
    last = bodies[-1]
    assert "100.4 F (38 C)" in last
    assert "Llame ahora" in last
    assert "Rosa" not in last
    with loop.rt.transaction() as session:
        (entry,) = list_worklist(session, now=loop.clock.now())
    assert (entry.rule_id, entry.severity) == ("febrile-neutropenia-reported", "urgent")


def _broker_up() -> bool:
    try:
        with socket.create_connection(BROKER, timeout=2):
            return True
    except OSError:
        return False


@pytest.mark.skipif(not _broker_up(), reason="no MQTT broker on 127.0.0.1:1883")
def test_a_febrile_reading_over_mqtt_is_answered_on_the_advice_topic_without_a_name(
    rt: Runtime, clock: FrozenClock, tmp_path: Path
) -> None:
    _on_chemo(rt, tmp_path, "mq-fn", clock)
    register_devices(rt, "mq-fn", "thermometer-1")
    prefix = f"test-{uuid.uuid4().hex[:8]}"
    replies: list[tuple[str, dict[str, Any]]] = []
    publisher = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"pub-{prefix}")
    subscribed = threading.Event()
    publisher.on_message = lambda _c, _u, m: replies.append((m.topic, orjson.loads(m.payload)))
    publisher.on_subscribe = lambda *_a: subscribed.set()
    publisher.connect(*BROKER)
    publisher.loop_start()
    publisher.subscribe(f"{prefix}/readings/+/+/advice", qos=1)
    assert subscribed.wait(5)
    ready = threading.Event()
    worker = threading.Thread(
        target=run_ingest,
        kwargs={
            "host": BROKER[0],
            "port": BROKER[1],
            "topic": f"{prefix}/readings/#",
            "client_id": f"ingest-{prefix}",
            "process": make_processor(rt, phone="(555) 010-0100"),
            "max_messages": 1,
            "idle_timeout": 15,
            "on_ready": ready.set,
        },
    )
    worker.start()
    assert ready.wait(10)
    reading = temperature("mq-fn", 100.9, clock.now(), unit="[degF]", code="8333-7")
    reading.pop("subject")
    topic = f"{prefix}/readings/mq-fn/thermometer-1"
    publisher.publish(topic, orjson.dumps(reading), qos=1).wait_for_publish(5)
    worker.join(30)
    for _ in range(50):
        if replies:
            break
        time.sleep(0.1)
    publisher.loop_stop()
    ((where, body),) = replies
    assert where == f"{topic}/advice"
    assert body["severity"] == "urgent"
    assert "(555) 010-0100" in body["advice"]
    assert "Pat" not in body["advice"]  # minimum necessary: no name on a device
