"""CLI of access: ``careloop schedule offer|book|cancel|send-offer|waitlist ...``."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import typer

from careloop.cli.support import (
    DatabaseOption,
    JsonOption,
    audit_cli,
    guarded,
    new_table,
    print_json,
    runtime,
)

schedule_app = typer.Typer(
    help="Offer slots that fit a patient's day, book them, and back-fill cancellations.",
    no_args_is_help=True,
)

PatientArg = Annotated[str, typer.Argument(help="The careloop patient id.", show_default=False)]


@schedule_app.command("offer")
@guarded
def offer(
    patient_id: PatientArg,
    service: Annotated[
        str | None,
        typer.Option(
            "--service",
            help="Only slots whose Slot, Schedule or HealthcareService carries this code "
            "(serviceType, specialty, appointmentType; any code system).",
        ),
    ] = None,
    from_day: Annotated[
        str | None,
        typer.Option(
            "--from",
            help="First day to search (YYYY-MM-DD, in the patient's time zone; default today).",
        ),
    ] = None,
    days: Annotated[int, typer.Option("--days", help="How many days to search.")] = 14,
    limit: Annotated[int, typer.Option("--limit", help="At most this many offers.")] = 3,
    database: DatabaseOption = None,
    as_json: JsonOption = False,
) -> None:
    """List the free slots that fit the patient's day, best first, each with why.

    Ranks by the patient's own availability, an accompanying caregiver's windows, transport
    need (a ride or a video visit), lead time and no-show risk; busy or held slots are never
    offered. JSON: a list of {slot, start, end, mode, ride, why}, times ISO-8601 with offset
    in the patient's zone.
    """
    from careloop.access.service import find_offers
    from careloop.audit import AuditAction, Purpose
    from careloop.errors import InvalidInput

    try:
        first = date.fromisoformat(from_day) if from_day else None
    except ValueError:
        raise InvalidInput("--from must be a date like 2027-03-15", field="from") from None
    with runtime(database) as rt, rt.transaction() as session:
        offers = find_offers(
            session,
            patient_id=patient_id,
            now=rt.clock.now(),
            service=service,
            from_day=first,
            days=days,
            limit=limit,
        )
        audit_cli(
            session,
            rt,
            AuditAction.READ,
            "schedule-offer",
            Purpose.TREATMENT,
            patient_ids=[patient_id],
            detail={"offers": len(offers)},
        )
    if as_json:
        print_json([o.as_json() for o in offers])
        return
    table = new_table("Offers, best first", "slot", "start", "mode", "ride", "why")
    for o in offers:
        table.add_row(o.slot, o.start.isoformat(), o.mode, "yes" if o.ride else "no", o.why)
    typer.echo("no slot fits in this period" if not offers else "", nl=False)
    if offers:
        from rich.console import Console

        Console().print(table)
    else:
        typer.echo("")


def register(app: typer.Typer) -> None:
    app.add_typer(schedule_app, name="schedule")
