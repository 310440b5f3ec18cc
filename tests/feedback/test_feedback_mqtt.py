"""MQTT ingest against the real Mosquitto broker on 127.0.0.1:1883."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from datetime import timedelta
from pathlib import Path

import orjson
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from careloop.careteam.mqtt_ingest import make_processor
from careloop.careteam.worklist import list_worklist
from careloop.clock import FrozenClock
from careloop.events import list_events
from careloop.feedback.mqtt import IngestStats, run_ingest
from careloop.records.resources import get_resource
from careloop.runtime import Runtime
from tests.feedback.loop_payloads import add_patients, blood_pressure, register_devices, single

BROKER = ("127.0.0.1", 1883)


def _broker_up() -> bool:
    try:
        with socket.create_connection(BROKER, timeout=2):
            return True
    except OSError:
        return False


pytestmark = pytest.mark.skipif(not _broker_up(), reason="no MQTT broker on 127.0.0.1:1883")


def _publisher(prefix: str, replies: list[tuple[str, dict]]) -> mqtt.Client:  # type: ignore[type-arg]
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"test-pub-{uuid.uuid4().hex[:8]}")
    subscribed = threading.Event()
    client.on_message = lambda _c, _u, m: replies.append((m.topic, orjson.loads(m.payload)))
    client.on_subscribe = lambda *_a: subscribed.set()
    client.connect(*BROKER)
    client.loop_start()
    client.subscribe(f"{prefix}/readings/+/+/rejected", qos=1)
    assert subscribed.wait(5)
    return client


def _ingest_published(
    rt: Runtime,
    prefix: str,
    publisher: mqtt.Client,
    replies: list[tuple[str, dict]],  # type: ignore[type-arg]
    messages: list[tuple[str, dict]],  # type: ignore[type-arg]
) -> IngestStats | None:
    """Run the ingest while ``messages`` are published; its stats, or None if it died."""
    ready = threading.Event()
    outcome: dict[str, IngestStats] = {}

    def ingest() -> None:
        outcome["stats"] = run_ingest(
            host=BROKER[0],
            port=BROKER[1],
            topic=f"{prefix}/readings/#",
            client_id=f"test-ingest-{uuid.uuid4().hex[:8]}",
            process=make_processor(rt),
            max_messages=len(messages),
            idle_timeout=15,
            on_ready=ready.set,
        )

    worker = threading.Thread(target=ingest)
    worker.start()
    assert ready.wait(10)
    for topic, body in messages:
        publisher.publish(topic, orjson.dumps(body), qos=1).wait_for_publish(5)
    worker.join(30)
    for _ in range(50):
        if replies:
            break
        time.sleep(0.1)
    publisher.loop_stop()
    return outcome.get("stats")


def test_readings_published_over_mqtt_are_stored_alerted_or_rejected(
    rt: Runtime, clock: FrozenClock, tmp_path: Path
) -> None:
    add_patients(rt, tmp_path, "mq-1")
    register_devices(rt, "mq-1", "cuff-7", "scale-2")
    prefix = f"test-{uuid.uuid4().hex[:8]}"
    replies: list[tuple[str, dict]] = []  # type: ignore[type-arg]
    publisher = _publisher(prefix, replies)
    crisis = blood_pressure("mq-1", 186, 112, clock.now() - timedelta(minutes=3))
    crisis.pop("subject")  # the topic names the patient
    bad_unit = single("mq-1", "29463-7", 80, "stone", clock.now())
    topic = f"{prefix}/readings/mq-1/cuff-7"
    published = [(topic, crisis), (topic, crisis), (f"{prefix}/readings/mq-1/scale-2", bad_unit)]

    stats = _ingest_published(rt, prefix, publisher, replies, published)  # crisis re-delivered

    assert stats is not None
    assert (stats.received, stats.accepted, stats.rejected) == (3, 2, 1)
    with rt.transaction() as session:
        stored = get_resource(session, resource_type="Observation", fhir_id=crisis["id"])
        alerts = list_worklist(session, now=clock.now())
        rejected = list_events(session, kinds=["reading_rejected"])
        received = list_events(session, kinds=["reading_received"])
    assert stored is not None
    assert stored["subject"] == {"reference": "Patient/mq-1"}
    assert [(a.rule_id, a.severity, a.occurrences) for a in alerts] == [("bp-crisis", "urgent", 1)]
    assert len(received) == 1
    assert rejected[0].payload["field"] == "Observation.valueQuantity.code"
    assert replies
    assert replies[0][0] == f"{prefix}/readings/mq-1/scale-2/rejected"
    assert replies[0][1]["field"] == "Observation.valueQuantity.code"


def test_a_reading_with_a_nul_character_is_refused_and_the_next_good_one_is_kept(
    rt: Runtime, clock: FrozenClock, tmp_path: Path
) -> None:
    """A scale pads a note with a NUL character (``\\u0000``), which PostgreSQL cannot store:
    the device is told which element on ``<topic>/rejected``, and its next, clean reading
    still reaches the record (the ingest neither dies nor re-reads the bad one forever)."""
    add_patients(rt, tmp_path, "mq-2")
    register_devices(rt, "mq-2", "scale-3")
    prefix = f"test-{uuid.uuid4().hex[:8]}"
    replies: list[tuple[str, dict]] = []  # type: ignore[type-arg]
    publisher = _publisher(prefix, replies)
    padded = single("mq-2", "29463-7", 80, "kg", clock.now() - timedelta(minutes=2))
    padded["note"] = [{"text": "scale-3\u0000\u0000"}]
    good = single("mq-2", "29463-7", 81, "kg", clock.now())
    topic = f"{prefix}/readings/mq-2/scale-3"

    stats = _ingest_published(rt, prefix, publisher, replies, [(topic, padded), (topic, good)])

    with rt.transaction() as session:
        kept = get_resource(session, resource_type="Observation", fhir_id=good["id"])
    assert stats is not None, "the ingest died on the bad reading"
    assert (stats.received, stats.accepted, stats.rejected) == (2, 1, 1)
    assert kept is not None
    assert replies[0][0] == f"{topic}/rejected"
    assert replies[0][1]["field"] == "note[0].text"
