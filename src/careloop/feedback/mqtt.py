"""MQTT transport for device readings: subscribe, hand batches to a processor, ack, reply.

Topic layout: ``careloop/readings/<patient id>/<device id>`` carrying one JSON FHIR
Observation. Messages are received with QoS 1 on a persistent session and acknowledged
only after the processor's transaction committed (``manual_ack``): a crash before commit
means the broker delivers again, and the processor recognises a re-sent reading, so nothing
is lost and nothing is counted twice. A refused reading is answered on
``<its topic>/rejected`` with the reason and field; an accepted reading that needs the
patient to act now (an urgent rule with advice) is answered on ``<its topic>/advice`` with
``{"severity": "urgent", "advice": "..."}`` for the device or its app to show.

The broker connection can carry a username and password and/or TLS (a CA to verify the
broker, optionally a client certificate and key): :class:`BrokerSecurity`.

This module only speaks MQTT; what a reading means is decided by the injected processor
(``careteam.mqtt_ingest``), so the transport knows nothing of the domain.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

log = logging.getLogger("careloop.feedback.mqtt")
REJECTED_SUFFIX = "/rejected"
ADVICE_SUFFIX = "/advice"
_REPLIES = (REJECTED_SUFFIX, ADVICE_SUFFIX)


@dataclass(frozen=True)
class InboundMessage:
    topic: str
    payload: bytes
    mid: int
    qos: int


@dataclass(frozen=True)
class Verdict:
    """The processor's answer for one message: accepted, or refused with a reason."""

    message: InboundMessage
    accepted: bool
    reason: str | None = None
    field: str | None = None
    resource_id: str | None = None
    advice: str | None = None
    """Words for the patient to act on now (no PHI), published on ``<topic>/advice``."""


def topic_parts(topic: str) -> tuple[str, str] | None:
    """(patient id, device id) from ``.../readings/<patient>/<device>``."""
    parts = topic.split("/")
    if len(parts) < 4 or parts[-3] != "readings" or not parts[-2] or not parts[-1]:
        return None
    return parts[-2], parts[-1]


@dataclass(frozen=True)
class BrokerSecurity:
    """How the ingest authenticates to the broker and protects the connection.

    ``tls`` with no ``ca_file`` verifies the broker against the system's CAs; a client
    certificate (``cert_file`` + ``key_file``) can stand in for, or add to, the password.
    """

    username: str | None = None
    password: str | None = None
    tls: bool = False
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None

    def __post_init__(self) -> None:
        if self.password is not None and self.username is None:
            raise ValueError("mqtt password: needs a username")
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("mqtt client certificate: give both cert_file and key_file")

    @property
    def uses_tls(self) -> bool:
        return self.tls or any(f is not None for f in (self.ca_file, self.cert_file))

    def apply(self, client: mqtt.Client) -> None:
        """Set credentials and TLS on a paho client before it connects."""
        if self.username is not None:
            client.username_pw_set(self.username, self.password)
        if self.uses_tls:
            client.tls_set(
                ca_certs=str(self.ca_file) if self.ca_file else None,
                certfile=str(self.cert_file) if self.cert_file else None,
                keyfile=str(self.key_file) if self.key_file else None,
            )


@dataclass
class IngestStats:
    received: int = 0
    accepted: int = 0
    rejected: int = 0


def run_ingest(
    *,
    host: str,
    port: int,
    topic: str,
    client_id: str,
    process: Callable[[Sequence[InboundMessage]], list[Verdict]],
    batch_size: int = 50,
    max_messages: int | None = None,
    idle_timeout: float | None = None,
    stop: threading.Event | None = None,
    on_ready: Callable[[], None] | None = None,
    security: BrokerSecurity | None = None,
) -> IngestStats:
    """Consume until ``stop`` is set, ``max_messages`` were handled, or ``idle_timeout`` passed.

    Messages wait in a queue filled by paho's network thread; this thread takes up to
    ``batch_size`` at a time so one transaction carries many readings under load.
    """
    inbox: queue.Queue[InboundMessage] = queue.Queue()
    ready = threading.Event()
    stop = stop or threading.Event()
    stats = IngestStats()
    refused: list[str] = []
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        clean_session=False,
        manual_ack=True,
    )

    def on_connect(c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if getattr(reason, "is_failure", False):
            log.error("mqtt connect refused", extra={"reason": str(reason)})
            refused.append(str(reason))
            ready.set()
            return
        c.subscribe(topic, qos=1)

    def on_subscribe(_c: mqtt.Client, _u: Any, _mid: Any, _codes: Any, _p: Any) -> None:
        ready.set()

    def on_message(_c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        inbox.put(InboundMessage(msg.topic, bytes(msg.payload), msg.mid, msg.qos))

    if security is not None:
        security.apply(client)
    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = on_message
    client.connect(host, port, keepalive=30)
    client.loop_start()
    try:
        if not ready.wait(timeout=10):
            raise ConnectionError(f"could not subscribe on {host}:{port}")
        if refused:
            raise ConnectionError(f"broker {host}:{port} refused the connection: {refused[0]}")
        if on_ready is not None:
            on_ready()
        last_activity = time.monotonic()
        while not stop.is_set():
            if max_messages is not None and stats.received >= max_messages:
                break
            try:
                first = inbox.get(timeout=0.2)
            except queue.Empty:
                if idle_timeout is not None and time.monotonic() - last_activity > idle_timeout:
                    break
                continue
            batch = [first]
            while len(batch) < batch_size:
                try:
                    batch.append(inbox.get_nowait())
                except queue.Empty:
                    break
            own = [m for m in batch if m.topic.endswith(_REPLIES)]
            work = [m for m in batch if not m.topic.endswith(_REPLIES)]
            verdicts = process(work) if work else []
            for message in [*own, *(v.message for v in verdicts)]:
                if message.qos > 0:
                    client.ack(message.mid, message.qos)
            for verdict in verdicts:
                stats.received += 1
                if verdict.accepted:
                    stats.accepted += 1
                    if verdict.advice:
                        client.publish(
                            verdict.message.topic + ADVICE_SUFFIX,
                            orjson.dumps({"severity": "urgent", "advice": verdict.advice}),
                            qos=1,
                        )
                    continue
                stats.rejected += 1
                client.publish(
                    verdict.message.topic + REJECTED_SUFFIX,
                    orjson.dumps(
                        {
                            "reason": verdict.reason,
                            "field": verdict.field,
                            "id": verdict.resource_id,
                        }
                    ),
                    qos=1,
                )
            last_activity = time.monotonic()
    finally:
        client.loop_stop()
        client.disconnect()
    return stats
