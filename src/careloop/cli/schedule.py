"""CLI of access: ``careloop schedule offer|book|cancel|send-offer|waitlist ...``."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import typer

from careloop.cli.options import DatabaseOption, JsonOption, PatientArg
from careloop.cli.support import (
    audit_cli,
    command_group,
    emit,
    new_table,
    print_json,
    print_recent_figures,
    runtime,
)

schedule_app = command_group(
    "Offer slots that fit a patient's day, book them, and back-fill cancellations."
)


@schedule_app.command("offer")
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


@schedule_app.command("send-offer")
def send_offer_command(
    patient_id: PatientArg,
    service: Annotated[
        str | None, typer.Option("--service", help="Only this service code.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", help="At most this many choices.")] = 3,
    database: DatabaseOption = None,
    as_json: JsonOption = False,
) -> None:
    """Send the patient the best slots through the outbox ("Reply 1 for Tue 3:45 PM, ...").

    The reply books the choice; the text also carries a signed self-scheduling link.
    """
    from careloop.access.sending import send_offer
    from careloop.audit import AuditAction, Purpose

    with runtime(database) as rt, rt.transaction() as session:
        sent = send_offer(
            session,
            patient_id=patient_id,
            clock=rt.clock,
            settings=rt.settings,
            service=service,
            limit=limit,
        )
        audit_cli(
            session,
            rt,
            AuditAction.SEND,
            "slot-offer",
            Purpose.TREATMENT,
            patient_ids=[patient_id],
            detail={"offer": sent.offer_id, "choices": sent.choices},
        )
    result = {
        "offer": sent.offer_id,
        "choices": sent.choices,
        "outbox_id": sent.outbox_id,
        "not_queued": sent.not_queued,
    }
    emit(
        result,
        as_json=as_json,
        text=f"offer {sent.offer_id}: {sent.choices} choices, "
        + (
            f"queued as message {sent.outbox_id}"
            if sent.outbox_id
            else f"not sent ({sent.not_queued})"
        ),
    )


@schedule_app.command("waitlist-add")
def waitlist_add(
    patient_id: PatientArg,
    service: Annotated[
        str | None, typer.Option("--service", help="Only this service code.")
    ] = None,
    priority: Annotated[int, typer.Option("--priority", help="0-9, higher is more urgent.")] = 0,
    noshow_risk: Annotated[
        float | None, typer.Option("--noshow-risk", help="0-1, from the no-show model.")
    ] = None,
    database: DatabaseOption = None,
) -> None:
    """Put a patient on the waitlist for an earlier slot (back-filled from cancellations)."""
    from careloop.access.waitlist import add_to_waitlist
    from careloop.audit import AuditAction, Purpose

    with runtime(database) as rt, rt.transaction() as session:
        entry = add_to_waitlist(
            session,
            patient_id=patient_id,
            now=rt.clock.now(),
            service=service,
            priority=priority,
            noshow_risk=noshow_risk,
        )
        audit_cli(
            session, rt, AuditAction.CREATE, "waitlist", Purpose.TREATMENT, patient_ids=[patient_id]
        )
        typer.echo(f"waitlist entry {entry.id}")


@schedule_app.command("backfill")
def backfill_command(
    slot_id: Annotated[str, typer.Argument(help="The freed Slot id.", show_default=False)],
    database: DatabaseOption = None,
    as_json: JsonOption = False,
) -> None:
    """Offer a freed slot to the waitlist, then close back-fill offers someone else won."""
    from careloop.access.waitlist import backfill, tell_the_others

    with runtime(database) as rt, rt.transaction() as session:
        offered = backfill(session, slot_id=slot_id, clock=rt.clock, settings=rt.settings)
        told = tell_the_others(session, clock=rt.clock, settings=rt.settings)
    result = {"offered": len(offered), "told_it_went": len(told)}
    emit(
        result,
        as_json=as_json,
        text=f"offered to {len(offered)} waiting patients; {len(told)} told the slot went",
    )


@schedule_app.command("dispatch-rides")
def dispatch_rides_command(
    database: DatabaseOption = None,
    as_json: JsonOption = False,
) -> None:
    """Request pending rides from the ride provider and cancel the rides of visits that are
    off (``access.rides`` settings; docs/access.md). The ``ride-dispatch`` job does the same."""
    from careloop.access.rides import provider_from_settings, run_rides

    with runtime(database) as rt, rt.transaction() as session:
        provider = provider_from_settings(
            rt.settings.access.rides, public_base_url=rt.settings.security.public_base_url
        )
        done = run_rides(session, provider=provider, clock=rt.clock)
    emit(
        done,
        as_json=as_json,
        text=f"{done['requested']} rides requested from {provider.name}, "
        f"{done['cancelled']} cancelled",
    )


@schedule_app.command("metrics")
def metrics_command(
    days: Annotated[int, typer.Option("--days", help="Offers made in the last N days.")] = 30,
    database: DatabaseOption = None,
    as_json: JsonOption = False,
) -> None:
    """Booking conversion per offer, median days from offer to visit, no-show rate."""
    from careloop.access.metrics import access_metrics

    print_recent_figures(database, days, access_metrics, as_json=as_json)


def register(app: typer.Typer) -> None:
    app.add_typer(schedule_app, name="schedule")
