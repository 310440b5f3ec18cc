"""The device registry: which device may post readings, and for which one patient.

Broker credentials (see docs/feedback.md) say *who* is connected; this registry says what
that device may claim. A reading on ``.../readings/<patient>/<device>`` is accepted only
when ``<device>`` is registered, not revoked, and registered to ``<patient>``: a device
cannot post for another patient even if the broker's ACL were too broad. Registering,
listing and revoking are audited (the device -> patient link is part of the record).

:func:`broker_acl` writes the broker's access list from this registry (one user per active
device, allowed its own topic only), so the broker and careloop cannot drift apart: a
revoked device loses its topic at the broker's next reload as well.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from careloop.audit import AuditAction, Auditor, Purpose
from careloop.clock import Clock
from careloop.db import get_or_missing
from careloop.errors import Conflict, InvalidInput, NotFound
from careloop.models import Device
from careloop.records.resources import resolve_patient_reference
from careloop.security.principal import Principal

ACTIVE = "active"
REVOKED = "revoked"
# Device ids are topic levels: no MQTT wildcards or separators, bounded length.
_DEVICE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")


@dataclass(frozen=True)
class DeviceRow:
    device_id: str
    patient_ref: str
    status: str
    registered_at: datetime
    registered_by: str
    revoked_at: datetime | None

    @classmethod
    def of(cls, row: Device) -> DeviceRow:
        return cls(
            row.device_id,
            row.patient_ref,
            row.status,
            row.registered_at,
            row.registered_by,
            row.revoked_at,
        )


def _check_id(device_id: str) -> str:
    if not _DEVICE_ID.match(device_id):
        raise InvalidInput(
            "device: 1-64 letters, digits, '.', '_', ':' or '-' (no '/', '+' or '#')",
            field="device",
        )
    return device_id


def _auditor(session: Session, clock: Clock, principal: Principal) -> Auditor:
    """The device registry's writes: a device feeds a patient's record, so its care."""
    return Auditor(session, clock, principal, Purpose.TREATMENT)


def register_device(
    session: Session, *, device_id: str, patient: str, clock: Clock, principal: Principal
) -> DeviceRow:
    """Register ``device_id`` for the patient whose FHIR id is ``patient``.

    Re-registering an active device to the same patient is a no-op; to another patient it is
    refused (revoke first), so a device is never silently moved between patients.
    """
    _check_id(device_id)
    patient_id = resolve_patient_reference(session, f"Patient/{patient}")
    if patient_id is None:
        raise NotFound("patient: no such patient")
    row = session.get(Device, device_id)
    now = clock.now()
    if row is not None and row.status == ACTIVE:
        if row.patient_id != patient_id:
            raise Conflict("device: registered to another patient; revoke it first")
        return DeviceRow.of(row)
    if row is None:
        row = Device(device_id=device_id)
        session.add(row)
    row.patient_ref, row.patient_id, row.status = patient, patient_id, ACTIVE
    row.registered_at, row.registered_by = now, principal.actor
    row.revoked_at, row.revoked_by = None, None
    session.flush()
    _auditor(session, clock, principal)(AuditAction.CREATE, f"Device/{device_id}", [patient_id])
    return DeviceRow.of(row)


def revoke_device(
    session: Session, *, device_id: str, clock: Clock, principal: Principal
) -> DeviceRow:
    """Stop accepting readings from ``device_id`` (its row stays, for the record)."""
    row = get_or_missing(session, Device, _check_id(device_id), "device: not registered")
    if row.status != REVOKED:
        row.status, row.revoked_at, row.revoked_by = REVOKED, clock.now(), principal.actor
        session.flush()
        _auditor(session, clock, principal)(
            AuditAction.UPDATE, f"Device/{device_id}", [row.patient_id], detail={"status": REVOKED}
        )
    return DeviceRow.of(row)


def list_devices(
    session: Session,
    *,
    clock: Clock,
    principal: Principal,
    patient: str | None = None,
    include_revoked: bool = False,
) -> list[DeviceRow]:
    """Registered devices (active only unless asked), audited as a read of each patient."""
    query = select(Device).order_by(Device.device_id)
    if patient is not None:
        query = query.where(Device.patient_ref == patient)
    if not include_revoked:
        query = query.where(Device.status == ACTIVE)
    rows = list(session.scalars(query))
    Auditor(session, clock, principal, Purpose.OPERATIONS).read(
        "Device", sorted({r.patient_id for r in rows})
    )
    return [DeviceRow.of(r) for r in rows]


def preload_devices(session: Session, device_ids: Iterable[str]) -> None:
    """Load a batch's devices in one query, so :func:`check_device` finds each in the
    session instead of asking the database once per reading."""
    wanted = sorted(set(device_ids))
    if wanted:
        list(session.scalars(select(Device).where(Device.device_id.in_(wanted))))


def check_device(session: Session, *, device_id: str, patient: str) -> None:
    """Refuse a reading unless ``device_id`` is active and registered to ``patient``.

    The messages name the device field only: never which patient the device belongs to.
    """
    row = session.get(Device, device_id)
    if row is None or row.status != ACTIVE:
        raise InvalidInput("device: not registered or revoked", field="device")
    if row.patient_ref != patient:
        raise InvalidInput("device: not registered to the patient in the topic", field="device")


TOPIC_ROOT = "careloop/readings"


def broker_acl(session: Session, *, clock: Clock, principal: Principal, ingest_user: str) -> str:
    """A Mosquitto ``acl_file`` for the registry as it is now (docs/feedback.md).

    The ingest reads every reading and answers on ``rejected``/``advice``; each active
    device, connecting as a broker user named like its id, may write only its own topic
    (``<root>/<patient>/<device>``) and read the answers under it. Revoked devices get no
    line, so the broker refuses their posts too. Reading the registry is audited.
    """
    if not _DEVICE_ID.match(ingest_user):
        raise InvalidInput("ingest user: 1-64 letters, digits, '.', '_', ':' or '-'", field="user")
    lines = [
        f"user {ingest_user}",
        f"topic read {TOPIC_ROOT}/#",
        f"topic write {TOPIC_ROOT}/+/+/rejected",
        f"topic write {TOPIC_ROOT}/+/+/advice",
    ]
    for row in list_devices(session, clock=clock, principal=principal):
        topic = f"{TOPIC_ROOT}/{row.patient_ref}/{row.device_id}"
        lines += ["", f"user {row.device_id}", f"topic write {topic}", f"topic read {topic}/#"]
    return "\n".join(lines) + "\n"
