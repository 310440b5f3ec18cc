"""A device reading whose id is longer than FHIR's 64 characters is refused and answered,
on both backends, and the reading after it in the same batch is still kept."""

from __future__ import annotations

from pathlib import Path

import orjson

from careloop.careteam.mqtt_ingest import make_processor
from careloop.clock import FrozenClock
from careloop.feedback.mqtt import InboundMessage
from careloop.records.resources import get_resource
from careloop.runtime import Runtime
from tests.feedback.loop_payloads import add_patients, register_devices, single

TOPIC = "clinic/readings/mq-9/scale-9"


def test_an_overlong_reading_id_is_refused_and_the_next_reading_kept(
    rt: Runtime, clock: FrozenClock, tmp_path: Path
) -> None:
    """A scale that names its readings with a 200-character id (PostgreSQL stores 128) gets
    "id" back as the refused field instead of stopping the ingest."""
    add_patients(rt, tmp_path, "mq-9")
    register_devices(rt, "mq-9", "scale-9")
    long_id = single("mq-9", "29463-7", 80, "kg", clock.now())
    long_id["id"] = "a" * 200
    good = single("mq-9", "29463-7", 81, "kg", clock.now())
    process = make_processor(rt)

    verdicts = process(
        [
            InboundMessage(TOPIC, orjson.dumps(long_id), 1, 1),
            InboundMessage(TOPIC, orjson.dumps(good), 2, 1),
        ]
    )

    with rt.transaction() as session:
        kept = get_resource(session, resource_type="Observation", fhir_id=good["id"])
    assert [(v.accepted, v.field) for v in verdicts] == [(False, "id"), (True, None)]
    assert kept is not None
