"""CLI of the device registry: ``careloop devices register|list|revoke|broker-acl``.

A reading over MQTT is accepted only from a device registered here to the patient in its
topic; see docs/feedback.md for the broker side (per-device credentials and ACL).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Annotated

import typer

from careloop.cli.command import Listed, Output, Shown, Work, Written, in_transaction
from careloop.cli.options import ByOption
from careloop.cli.support import cli_principal, command_group
from careloop.feedback import devices
from careloop.security.roles import Role

devices_app = command_group("Devices allowed to post readings, one patient each.")


def _row(row: devices.DeviceRow) -> dict[str, str | None]:
    return {
        "device": row.device_id,
        "patient": row.patient_ref,
        "status": row.status,
        "registered_at": row.registered_at.isoformat(),
        "registered_by": row.registered_by,
        "revoked_at": row.revoked_at.isoformat() if row.revoked_at else None,
    }


def _change_device(
    work: Work, device: str, change: Callable[..., devices.DeviceRow], *, by: str | None
) -> Output:
    """Register or revoke DEVICE as a clinician at the terminal, then show its row."""
    principal = cli_principal(Role.CLINICIAN, name=by)
    row = change(work.session, device_id=device, clock=work.rt.clock, principal=principal)
    return Shown(_row(row), f"device {device}: {row.status}")


@devices_app.command("register")
@in_transaction()
def register_cmd(
    work: Work,
    device: Annotated[str, typer.Argument(help="Device id (the last level of its topic).")],
    patient: Annotated[str, typer.Option("--patient", help="The patient's FHIR id.")],
    by: ByOption = None,
) -> Output:
    """Allow DEVICE to post readings for one patient (and no other)."""
    return _change_device(work, device, partial(devices.register_device, patient=patient), by=by)


@devices_app.command("list")
@in_transaction()
def list_cmd(
    work: Work,
    patient: Annotated[str | None, typer.Option(help="Only this patient's devices.")] = None,
    include_revoked: Annotated[bool, typer.Option("--all", help="Include revoked.")] = False,
    by: ByOption = None,
) -> Output:
    """Registered devices and the patient each posts for."""
    found = devices.list_devices(
        work.session,
        clock=work.rt.clock,
        principal=cli_principal(Role.CLINICIAN, name=by),
        patient=patient,
        include_revoked=include_revoked,
    )
    return Listed(
        [_row(r) for r in found],
        line=lambda r: f"{r['device']}\t{r['patient']}\t{r['status']}\t{r['registered_at']}",
    )


@devices_app.command("revoke")
@in_transaction()
def revoke_cmd(
    work: Work, device: Annotated[str, typer.Argument(help="Device id.")], by: ByOption = None
) -> Output:
    """Refuse DEVICE's readings from now on (also revoke its broker credentials)."""
    return _change_device(work, device, devices.revoke_device, by=by)


@devices_app.command("broker-acl")
@in_transaction(json=False)
def broker_acl_cmd(
    work: Work,
    ingest_user: Annotated[
        str, typer.Option("--ingest-user", help="Broker user of `careloop ingest-mqtt`.")
    ] = "careloop-ingest",
    output: Annotated[
        Path | None, typer.Option("--output", help="Write the file here (default: stdout).")
    ] = None,
    by: ByOption = None,
) -> Output:
    """The broker's ACL from the registry: each active device writes only its own topic."""
    text = devices.broker_acl(
        work.session,
        clock=work.rt.clock,
        principal=cli_principal(Role.CLINICIAN, name=by),
        ingest_user=ingest_user,
    )
    return Written(text, output)


def register(app: typer.Typer) -> None:
    app.add_typer(devices_app, name="devices")
