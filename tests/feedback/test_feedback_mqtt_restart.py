"""The ingest as an operator runs it (`careloop ingest-mqtt`, no options), restarted.

A restart (a deploy, a crash, systemd's ``Restart=``) must not lose the readings devices
published meanwhile: the broker keeps them for the ingest's persistent session, which it
finds again only under the same client id.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from careloop.runtime import Runtime
from tests.feedback.loop_payloads import add_patients, register_devices, temperature
from tests.feedback.mqtt_broker import MOSQUITTO, anonymous_broker

pytestmark = pytest.mark.skipif(MOSQUITTO is None, reason="mosquitto is not installed")


def _ingest(database_url: str, port: int, *extra: str) -> dict[str, int]:
    """One run of the ingest command in a process of its own, as systemd starts it."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "careloop",
            "ingest-mqtt",
            "--database",
            database_url,
            "--port",
            str(port),
            "--json",
            *extra,
        ],
        capture_output=True,
        timeout=120,
        check=True,
    )
    return dict(orjson.loads(done.stdout))


# The session lives at the broker, whatever the database: one backend is enough.
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_reading_sent_while_the_ingest_restarts_is_received_after_it(
    rt: Runtime, database_url: str, tmp_path: Path
) -> None:
    patient = f"rs-{uuid.uuid4().hex[:8]}"
    add_patients(rt, tmp_path, patient)
    register_devices(rt, patient, "thermo-rs")
    with anonymous_broker(tmp_path) as port:
        # The first run subscribes (the broker opens its session) and stops when idle.
        assert _ingest(database_url, port, "--idle-timeout", "1")["received"] == 0
        device = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"dev-{patient}")
        device.connect("127.0.0.1", port)
        device.loop_start()
        # Measured now: the ingest in its own process reads the real clock.
        reading = temperature(patient, 37.1, datetime.now(UTC) - timedelta(minutes=1))
        reading.pop("subject")
        device.publish(
            f"careloop/readings/{patient}/thermo-rs", orjson.dumps(reading), qos=1
        ).wait_for_publish(5)
        device.loop_stop()
        device.disconnect()
        after = _ingest(database_url, port, "--idle-timeout", "5", "--max-messages", "1")
    assert (after["received"], after["accepted"]) == (1, 1)
