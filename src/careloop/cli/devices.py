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

from careloop.cli.options import ByOption, DatabaseOption, JsonOption
from careloop.cli.support import cli_principal, command_group, emit, print_rows
from careloop.cli.support import runtime as open_cli_runtime
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
    database: str | None,
    device: str,
    change: Callable[..., devices.DeviceRow],
    *,
    by: str | None,
    as_json: bool,
) -> None:
    """Register or revoke DEVICE as a clinician at the terminal, then print its row."""
    with open_cli_runtime(database) as rt, rt.transaction() as session:
        principal = cli_principal(Role.CLINICIAN, name=by)
        row = change(session, device_id=device, clock=rt.clock, principal=principal)
        result = _row(row)
    emit(result, as_json=as_json, text=f"device {device}: {row.status}")


@devices_app.command("register")
def register_cmd(
    device: Annotated[str, typer.Argument(help="Device id (the last level of its topic).")],
    patient: Annotated[str, typer.Option("--patient", help="The patient's FHIR id.")],
    database: DatabaseOption = None,
    by: ByOption = None,
    as_json: JsonOption = False,
) -> None:
    """Allow DEVICE to post readings for one patient (and no other)."""
    register = partial(devices.register_device, patient=patient)
    _change_device(database, device, register, by=by, as_json=as_json)


@devices_app.command("list")
def list_cmd(
    database: DatabaseOption = None,
    patient: Annotated[str | None, typer.Option(help="Only this patient's devices.")] = None,
    include_revoked: Annotated[bool, typer.Option("--all", help="Include revoked.")] = False,
    by: ByOption = None,
    as_json: JsonOption = False,
) -> None:
    """Registered devices and the patient each posts for."""
    with open_cli_runtime(database) as rt, rt.transaction() as session:
        rows = [
            _row(r)
            for r in devices.list_devices(
                session,
                clock=rt.clock,
                principal=cli_principal(Role.CLINICIAN, name=by),
                patient=patient,
                include_revoked=include_revoked,
            )
        ]
    print_rows(
        rows,
        as_json=as_json,
        line=lambda r: f"{r['device']}\t{r['patient']}\t{r['status']}\t{r['registered_at']}",
    )


@devices_app.command("revoke")
def revoke_cmd(
    device: Annotated[str, typer.Argument(help="Device id.")],
    database: DatabaseOption = None,
    by: ByOption = None,
    as_json: JsonOption = False,
) -> None:
    """Refuse DEVICE's readings from now on (also revoke its broker credentials)."""
    _change_device(database, device, devices.revoke_device, by=by, as_json=as_json)


@devices_app.command("broker-acl")
def broker_acl_cmd(
    database: DatabaseOption = None,
    ingest_user: Annotated[
        str, typer.Option("--ingest-user", help="Broker user of `careloop ingest-mqtt`.")
    ] = "careloop-ingest",
    output: Annotated[
        Path | None, typer.Option("--output", help="Write the file here (default: stdout).")
    ] = None,
    by: ByOption = None,
) -> None:
    """The broker's ACL from the registry: each active device writes only its own topic."""
    with open_cli_runtime(database) as rt, rt.transaction() as session:
        text = devices.broker_acl(
            session,
            clock=rt.clock,
            principal=cli_principal(Role.CLINICIAN, name=by),
            ingest_user=ingest_user,
        )
    if output is None:
        typer.echo(text, nl=False)
        return
    partial = output.with_name(output.name + ".new")
    partial.write_text(text)
    partial.replace(output)  # the broker never reads a half-written file
    typer.echo(f"wrote {output}")


def register(app: typer.Typer) -> None:
    app.add_typer(devices_app, name="devices")
