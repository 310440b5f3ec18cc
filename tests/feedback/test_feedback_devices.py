"""Issue 21 item 8: per-device credentials mapped to one patient, TLS and passwords to the broker.

The registry through its service and CLI; readings over the real Mosquitto on 127.0.0.1:1883
from registered, unknown, revoked and foreign devices; and a private Mosquitto (TLS only,
passwords, the ACL of docs/feedback.md) for what the shared broker does not enforce.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import select
from typer.testing import CliRunner

from careloop.careteam.mqtt_ingest import make_processor
from careloop.cli import app
from careloop.clock import FrozenClock
from careloop.errors import Conflict, InvalidInput, NotFound
from careloop.events import list_events
from careloop.feedback import devices
from careloop.feedback.mqtt import BrokerSecurity, IngestStats, run_ingest
from careloop.models import AuditEvent
from careloop.records.resources import get_resource
from careloop.runtime import Runtime
from careloop.security.principal import CLI_OPERATOR
from tests.feedback.loop_payloads import add_patients, register_devices, temperature
from tests.feedback.mqtt_broker import MOSQUITTO, PASSWD, private_broker

BROKER = ("127.0.0.1", 1883)


def _broker_up() -> bool:
    try:
        with socket.create_connection(BROKER, timeout=2):
            return True
    except OSError:
        return False


def test_a_device_is_registered_to_one_patient_revoked_and_every_step_is_audited(
    rt: Runtime, tmp_path: Path
) -> None:
    add_patients(rt, tmp_path, "dv-1", "dv-2")
    with rt.transaction() as session:
        row = devices.register_device(
            session, device_id="cuff-1", patient="dv-1", clock=rt.clock, principal=CLI_OPERATOR
        )
        assert (row.device_id, row.patient_ref, row.status) == ("cuff-1", "dv-1", "active")
        again = devices.register_device(
            session, device_id="cuff-1", patient="dv-1", clock=rt.clock, principal=CLI_OPERATOR
        )
        assert again == row
        with pytest.raises(Conflict, match="another patient"):
            devices.register_device(
                session, device_id="cuff-1", patient="dv-2", clock=rt.clock, principal=CLI_OPERATOR
            )
        with pytest.raises(NotFound):
            devices.register_device(
                session,
                device_id="cuff-2",
                patient="nobody",
                clock=rt.clock,
                principal=CLI_OPERATOR,
            )
        for bad in ("a/b", "+", "#", "", "x" * 65):
            with pytest.raises(InvalidInput) as refused:
                devices.register_device(
                    session, device_id=bad, patient="dv-1", clock=rt.clock, principal=CLI_OPERATOR
                )
            assert refused.value.field == "device"
        devices.check_device(session, device_id="cuff-1", patient="dv-1")
        with pytest.raises(InvalidInput, match="not registered to the patient"):
            devices.check_device(session, device_id="cuff-1", patient="dv-2")
        listed = devices.list_devices(session, clock=rt.clock, principal=CLI_OPERATOR)
        assert [d.device_id for d in listed] == ["cuff-1"]
        devices.revoke_device(session, device_id="cuff-1", clock=rt.clock, principal=CLI_OPERATOR)
        with pytest.raises(InvalidInput, match="not registered or revoked"):
            devices.check_device(session, device_id="cuff-1", patient="dv-1")
        assert devices.list_devices(session, clock=rt.clock, principal=CLI_OPERATOR) == []
        (revoked,) = devices.list_devices(
            session, clock=rt.clock, principal=CLI_OPERATOR, include_revoked=True
        )
        assert revoked.status == "revoked"
        # Re-registering a revoked device (e.g. handed to another patient) is allowed.
        moved = devices.register_device(
            session, device_id="cuff-1", patient="dv-2", clock=rt.clock, principal=CLI_OPERATOR
        )
        assert (moved.patient_ref, moved.status) == ("dv-2", "active")
        trail = [
            (a.action, a.resource)
            for a in session.scalars(
                select(AuditEvent).where(AuditEvent.resource.startswith("Device"))
            )
        ]
    assert trail == [
        ("create", "Device/cuff-1"),
        ("read", "Device"),
        ("update", "Device/cuff-1"),
        ("read", "Device"),
        ("create", "Device/cuff-1"),
    ]


def test_devices_cli_registers_lists_and_revokes_and_refuses_without_a_traceback(
    rt: Runtime, tmp_path: Path
) -> None:
    add_patients(rt, tmp_path, "dv-cli")
    db = ["--database", rt.settings.resolved_database_url]
    runner = CliRunner()
    done = runner.invoke(app, ["devices", "register", "scale-4", "--patient", "dv-cli", *db])
    assert done.exit_code == 0, done.output
    assert done.output.strip() == "device scale-4: active"
    listed = runner.invoke(app, ["devices", "list", "--json", *db])
    assert [(d["device"], d["patient"]) for d in orjson.loads(listed.output)] == [
        ("scale-4", "dv-cli")
    ]
    acl_file = tmp_path / "acl"
    written = runner.invoke(app, ["devices", "broker-acl", "--output", str(acl_file), *db])
    assert written.exit_code == 0, written.output
    assert "user scale-4\ntopic write careloop/readings/dv-cli/scale-4\n" in acl_file.read_text()
    assert runner.invoke(app, ["devices", "revoke", "scale-4", *db]).exit_code == 0
    assert orjson.loads(runner.invoke(app, ["devices", "list", "--json", *db]).output) == []
    after = runner.invoke(app, ["devices", "broker-acl", *db])
    assert after.exit_code == 0
    assert "scale-4" not in after.output  # revoked: no topic at the broker either
    for argv in (
        ["devices", "register", "a/#", "--patient", "dv-cli"],
        ["devices", "register", "scale-5", "--patient", "nobody"],
        ["devices", "revoke", "never-seen"],
        ["devices", "broker-acl", "--ingest-user", "a b"],
    ):
        refused = runner.invoke(app, [*argv, *db])
        assert refused.exit_code == 2, refused.output
        assert "Traceback" not in refused.output
        assert "error:" in refused.output


def _ingest(
    rt: Runtime, *, topic: str, max_messages: int, security: BrokerSecurity | None = None
) -> tuple[threading.Thread, threading.Event, dict[str, Any]]:
    ready, outcome = threading.Event(), {}

    def work() -> None:
        outcome["stats"] = run_ingest(
            host=BROKER[0],
            port=BROKER[1],
            topic=topic,
            client_id=f"test-ingest-{uuid.uuid4().hex[:8]}",
            process=make_processor(rt),
            max_messages=max_messages,
            idle_timeout=15,
            on_ready=ready.set,
            security=security,
        )

    worker = threading.Thread(target=work)
    worker.start()
    assert ready.wait(10)
    return worker, ready, outcome


@pytest.mark.skipif(not _broker_up(), reason="no MQTT broker on 127.0.0.1:1883")
def test_only_a_device_registered_to_the_topics_patient_is_heard_and_refusals_log_no_phi(
    rt: Runtime, clock: FrozenClock, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    add_patients(rt, tmp_path, "dv-a", "dv-b")
    register_devices(rt, "dv-a", "thermo-a", "thermo-old")
    register_devices(rt, "dv-b", "thermo-b")
    with rt.transaction() as session:
        devices.revoke_device(
            session, device_id="thermo-old", clock=rt.clock, principal=CLI_OPERATOR
        )
    prefix = f"test-{uuid.uuid4().hex[:8]}"
    replies: list[tuple[str, dict[str, Any]]] = []
    publisher = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"pub-{prefix}")
    subscribed = threading.Event()
    publisher.on_message = lambda _c, _u, m: replies.append((m.topic, orjson.loads(m.payload)))
    publisher.on_subscribe = lambda *_a: subscribed.set()
    publisher.connect(*BROKER)
    publisher.loop_start()
    publisher.subscribe(f"{prefix}/readings/+/+/rejected", qos=1)
    assert subscribed.wait(5)
    # The shared broker allows anonymous clients: credentials are sent and accepted.
    security = BrokerSecurity(username="careloop-ingest", password="not-checked-here")
    caplog.set_level(logging.INFO)
    worker, _ready, outcome = _ingest(
        rt, topic=f"{prefix}/readings/#", max_messages=4, security=security
    )
    sent = {
        "own": ("dv-a", "thermo-a"),
        "unknown": ("dv-a", "thermo-x"),
        "revoked": ("dv-a", "thermo-old"),
        "foreign": ("dv-a", "thermo-b"),  # dv-b's thermometer posting for dv-a
    }
    readings = {}
    for name, (patient, device) in sent.items():
        reading = temperature(patient, 37.1, clock.now())
        reading.pop("subject")
        readings[name] = reading
        publisher.publish(
            f"{prefix}/readings/{patient}/{device}", orjson.dumps(reading), qos=1
        ).wait_for_publish(5)
    worker.join(30)
    for _ in range(50):
        if len(replies) >= 3:
            break
        time.sleep(0.1)
    publisher.loop_stop()
    stats: IngestStats = outcome["stats"]
    assert (stats.received, stats.accepted, stats.rejected) == (4, 1, 3)
    assert sorted(t.rsplit("/", 2)[1] for t, _ in replies) == ["thermo-b", "thermo-old", "thermo-x"]
    assert {body["field"] for _, body in replies} == {"device"}
    assert not any("dv-b" in orjson.dumps(body).decode() for _, body in replies)
    with rt.transaction() as session:
        assert get_resource(session, resource_type="Observation", fhir_id=readings["own"]["id"])
        for name in ("unknown", "revoked", "foreign"):
            assert not get_resource(
                session, resource_type="Observation", fhir_id=readings[name]["id"]
            )
        rejected = list_events(session, kinds=["reading_rejected"])
    assert len(rejected) == 3
    assert all(e.patient_id is None and e.payload["field"] == "device" for e in rejected)
    refusals = [r for r in caplog.records if r.getMessage() == "mqtt reading refused"]
    assert len(refusals) == 3
    logged = " ".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    for phi in ("dv-a", "dv-b", "Pat"):
        assert phi not in logged


ACL = """\
user careloop-ingest
topic read careloop/readings/#
topic write careloop/readings/+/+/rejected
topic write careloop/readings/+/+/advice

user thermo-9
topic write careloop/readings/dv-9/thermo-9
topic read careloop/readings/dv-9/thermo-9/#
"""


@pytest.mark.skipif(not (MOSQUITTO and PASSWD), reason="no mosquitto binary to start a broker")
def test_tls_and_passwords_reach_the_broker_and_the_acl_keeps_a_device_to_its_own_topic(
    rt: Runtime, clock: FrozenClock, tmp_path: Path
) -> None:
    add_patients(rt, tmp_path, "dv-9", "dv-10")
    register_devices(rt, "dv-9", "thermo-9")
    register_devices(rt, "dv-10", "thermo-10")
    with rt.transaction() as session:
        devices.revoke_device(
            session, device_id="thermo-10", clock=rt.clock, principal=CLI_OPERATOR
        )
        # The broker's ACL is written from the registry: the documented shape, nothing for
        # the revoked device.
        acl = devices.broker_acl(
            session, clock=rt.clock, principal=CLI_OPERATOR, ingest_user="careloop-ingest"
        )
    assert acl == ACL
    users = {"careloop-ingest": "ingest-secret", "thermo-9": "thermo-secret"}
    with private_broker(tmp_path, users=users, acl=acl) as broker:
        good = BrokerSecurity(
            username="careloop-ingest", password="ingest-secret", ca_file=broker.ca_file
        )
        # A wrong password, and no TLS, are both refused by the broker.
        for bad in (
            BrokerSecurity(username="careloop-ingest", password="wrong", ca_file=broker.ca_file),
            BrokerSecurity(username="careloop-ingest", password="ingest-secret"),
        ):
            with pytest.raises((ConnectionError, OSError)):
                run_ingest(
                    host="127.0.0.1",
                    port=broker.port,
                    topic="careloop/readings/#",
                    client_id=f"bad-{uuid.uuid4().hex[:6]}",
                    process=make_processor(rt),
                    max_messages=1,
                    idle_timeout=1,
                    security=bad,
                )
        ready, outcome = threading.Event(), {}

        def work() -> None:
            outcome["stats"] = run_ingest(
                host="127.0.0.1",
                port=broker.port,
                topic="careloop/readings/#",
                client_id="careloop-ingest-test",
                process=make_processor(rt),
                max_messages=2,
                idle_timeout=3,
                on_ready=ready.set,
                security=good,
            )

        worker = threading.Thread(target=work)
        worker.start()
        assert ready.wait(10)
        device = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="thermo-9")
        BrokerSecurity(username="thermo-9", password="thermo-secret", ca_file=broker.ca_file).apply(
            device
        )
        device.connect("127.0.0.1", broker.port)
        device.loop_start()
        foreign = temperature("dv-10", 36.9, clock.now())
        foreign.pop("subject")
        own = temperature("dv-9", 36.8, clock.now())
        own.pop("subject")
        # The ACL drops the post for another patient at the broker; its own topic goes through.
        device.publish(
            "careloop/readings/dv-10/thermo-9", orjson.dumps(foreign), qos=1
        ).wait_for_publish(5)
        device.publish(
            "careloop/readings/dv-9/thermo-9", orjson.dumps(own), qos=1
        ).wait_for_publish(5)
        worker.join(30)
        device.loop_stop()
        device.disconnect()
    stats: IngestStats = outcome["stats"]
    assert (stats.received, stats.accepted, stats.rejected) == (1, 1, 0)
    with rt.transaction() as session:
        assert get_resource(session, resource_type="Observation", fhir_id=own["id"])
        assert not get_resource(session, resource_type="Observation", fhir_id=foreign["id"])


def test_broker_security_refuses_half_settings() -> None:
    with pytest.raises(ValueError, match="needs a username"):
        BrokerSecurity(password="x")
    with pytest.raises(ValueError, match="both cert_file and key_file"):
        BrokerSecurity(cert_file=Path("c.pem"))
    assert BrokerSecurity(ca_file=Path("ca.pem")).uses_tls
    assert not BrokerSecurity(username="u", password="p").uses_tls
