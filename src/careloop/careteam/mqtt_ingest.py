"""What an MQTT reading means: the processor ``feedback.mqtt.run_ingest`` calls per batch.

One transaction per batch with a savepoint per message, so a bad reading is refused (and
recorded as a ``reading_rejected`` event) without undoing its neighbours, and the batch is
committed before the transport acknowledges anything.

A reading is accepted only from a device registered to the patient in its topic
(:mod:`careloop.feedback.devices`); an unknown, revoked or foreign device is refused, answered
on ``<topic>/rejected`` and logged with the device id and reason only (no patient, no payload).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy.orm import Session

from careloop.careteam import intake, intake_many
from careloop.careteam.intake import IntakeResult
from careloop.careteam.safety import advice_text
from careloop.clock import Clock
from careloop.errors import InvalidInput, NotFound
from careloop.events import EventKind
from careloop.feedback.catalog import Catalog
from careloop.feedback.devices import check_device, preload_devices
from careloop.feedback.mqtt import InboundMessage, Verdict, topic_parts
from careloop.feedback.readings import observation_id
from careloop.feedback.ruleset import Rule
from careloop.feedback.service import record_rejection
from careloop.fhirdata.storable import unstorable
from careloop.outreach.config import outreach_settings
from careloop.runtime import Runtime
from careloop.security.principal import Principal
from careloop.security.roles import Role

log = logging.getLogger("careloop.careteam.mqtt_ingest")
MQTT_PRINCIPAL = Principal(actor="system:mqtt-ingest", role=Role.CLINICIAN, source="mqtt")


def _observation(message: InboundMessage) -> dict[str, Any]:
    parts = topic_parts(message.topic)
    if parts is None:
        raise InvalidInput("topic: expected .../readings/<patient>/<device>", field="topic")
    patient, device = parts
    try:
        body = orjson.loads(message.payload)
    except orjson.JSONDecodeError:
        raise InvalidInput("payload: not valid JSON", field="payload") from None
    if not isinstance(body, dict) or body.get("resourceType") != "Observation":
        raise InvalidInput("resourceType: expected an Observation", field="resourceType")
    refused = unstorable(body, message.payload)
    if refused is not None:
        # Refused here, not a database crash that re-reads the reading forever.
        raise InvalidInput(f"{refused[0]}: {refused[1]}", field=refused[0])
    subject = body.get("subject")
    expected = f"Patient/{patient}"
    if subject is None:
        body["subject"] = {"reference": expected}
    elif not isinstance(subject, dict) or subject.get("reference") != expected:
        raise InvalidInput("subject: does not match the patient in the topic", field="subject")
    body.setdefault("device", {"display": device[:64]})
    return body


def make_processor(
    runtime: Runtime,
    *,
    rules: Sequence[Rule] | None = None,
    catalog: Catalog | None = None,
    phone: str | None = None,
    registered_devices_only: bool = True,
) -> Any:
    """A batch processor bound to a runtime (database, clock).

    ``registered_devices_only=False`` turns the device registry off (a closed test bench);
    production keeps it on.
    """

    clinic_phone = phone or outreach_settings(runtime.settings)[0].clinic_phone

    def refuse(
        session: Session,
        message: InboundMessage,
        exc: InvalidInput | NotFound,
        resource_id: str | None = None,
    ) -> Verdict:
        field = exc.field if isinstance(exc, InvalidInput) else "subject"
        parts = topic_parts(message.topic)
        if field == "device" and parts is not None:
            log.warning(
                "mqtt reading refused",
                extra={"device": parts[1][:64], "reason": str(exc)},
            )
            parts = ("", parts[1])  # a claim by an unknown device names nobody
        record_rejection(
            session,
            kind=EventKind.READING_REJECTED,
            reason=str(exc),
            field=field,
            clock=runtime.clock,
            actor=MQTT_PRINCIPAL.actor,
            patient_id=parts[0][:64] if parts and parts[0] else None,
            details={"channel": "mqtt", "device": parts[1][:64] if parts else None},
        )
        return Verdict(message, False, str(exc), field, resource_id)

    def accepted(session: Session, message: InboundMessage, result: IntakeResult) -> Verdict:
        advice = advice_text(
            session,
            patient_id=result.patient_id,
            advice=result.advice,
            phone=clinic_phone,
            channel="device",
        )
        return Verdict(message, True, resource_id=result.resource_id, advice=advice)

    def alone(session: Session, message: InboundMessage, observation: dict[str, Any]) -> Verdict:
        """One reading the batch path left (or could not take), in a savepoint of its own."""
        try:
            with session.begin_nested():
                result = intake.receive_observation(
                    session,
                    observation,
                    clock=runtime.clock,
                    principal=MQTT_PRINCIPAL,
                    source="mqtt",
                    rules=rules,
                    catalog=catalog,
                )
                return accepted(session, message, result)
        except (InvalidInput, NotFound) as exc:
            return refuse(session, message, exc, observation_id(observation))

    def process(messages: Sequence[InboundMessage]) -> list[Verdict]:
        """The batch set-wise (``intake_many``), what it leaves reading by reading."""
        verdicts: dict[int, Verdict] = {}
        with runtime.transaction() as session:
            ready: list[tuple[int, dict[str, Any]]] = []
            if registered_devices_only:
                preload_devices(session, [p[1] for m in messages if (p := topic_parts(m.topic))])
            for index, message in enumerate(messages):
                try:
                    observation = _observation(message)
                    if registered_devices_only:
                        _check_device(session, message)
                except (InvalidInput, NotFound) as exc:
                    verdicts[index] = refuse(session, message, exc)
                    continue
                ready.append((index, observation))
            outcomes = _take_set_wise(session, [o for _, o in ready], runtime.clock, rules)
            for (index, observation), done in zip(ready, outcomes, strict=True):
                message = messages[index]
                if done is None:
                    verdicts[index] = alone(session, message, observation)
                elif isinstance(done, InvalidInput):
                    verdicts[index] = refuse(session, message, done, observation_id(observation))
                else:
                    verdicts[index] = accepted(session, message, done.result)
        return [verdicts[i] for i in range(len(messages))]

    return process


def _take_set_wise(
    session: Session,
    observations: list[dict[str, Any]],
    clock: Clock,
    rules: Sequence[Rule] | None,
) -> list[intake_many.Outcome]:
    """``intake_many`` on the batch in a savepoint; all None (each on its own) if it fails."""
    try:
        with session.begin_nested():
            return intake_many.receive_observations(
                session,
                [intake_many.Submitted(o, MQTT_PRINCIPAL, "mqtt") for o in observations],
                clock=clock,
                rules=rules,
            )
    except Exception:
        log.exception("mqtt batch: taken reading by reading instead")
        return [None] * len(observations)


def _check_device(session: Session, message: InboundMessage) -> None:
    parts = topic_parts(message.topic)
    assert parts is not None  # _observation refused a topic without patient and device
    check_device(session, device_id=parts[1], patient=parts[0])
