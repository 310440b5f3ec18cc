"""CLI of access: ``careloop schedule offer|book|cancel|send-offer|waitlist ...``."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Annotated

import typer

from careloop.audit import AuditAction, Purpose
from careloop.cli.command import Drawn, Output, Shown, Work, in_transaction, recent_figures
from careloop.cli.options import PatientArg
from careloop.cli.support import cli_principal, command_group, new_table

if TYPE_CHECKING:
    from careloop.access.finder import Offer

schedule_app = command_group(
    "Offer slots that fit a patient's day, book them, and back-fill cancellations."
)
ServiceOption = Annotated[
    str | None, typer.Option("--service", help="Only this service: its code or its name.")
]


@schedule_app.command("offer")
@in_transaction()
def offer(
    work: Work,
    patient_id: PatientArg,
    service: Annotated[
        str | None,
        typer.Option(
            "--service",
            help="Only slots whose Slot, Schedule or HealthcareService carries this code "
            "(serviceType, specialty, appointmentType; any code system) or this service name "
            "(e.g. colonoscopy); default: the services the patient is due for.",
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
) -> Output:
    """List the free slots that fit the patient's day, best first, each with why.

    Without --service, only the services the patient is due for (as send-offer and the
    portal); --service takes a code or the service's name ("colonoscopy"), and an unknown one
    is an error naming the known services. Ranks by the patient's own availability, an
    accompanying caregiver's windows, transport need (a ride or a video visit), lead time and
    no-show risk; busy or held slots are never offered. JSON: a list of {slot, start, end,
    mode, ride, why}, times ISO-8601 with offset in the patient's zone.
    """
    from careloop.access.self_service import services_due_or_named
    from careloop.access.service import check_search, find_offers
    from careloop.errors import InvalidInput

    check_search(days=days, limit=limit)
    try:
        first = date.fromisoformat(from_day) if from_day else None
    except ValueError:
        raise InvalidInput("--from must be a date like 2027-03-15", field="from") from None
    services = services_due_or_named(
        work.session, patient_id=patient_id, now=work.now(), service=service
    )
    offers = find_offers(
        work.session,
        patient_id=patient_id,
        now=work.now(),
        services=services,
        from_day=first,
        days=days,
        limit=limit,
    )
    work.audit(
        AuditAction.READ, "schedule-offer", Purpose.TREATMENT,
        patient_ids=[patient_id], detail={"offers": len(offers)},
    )  # fmt: skip
    return Drawn([o.as_json() for o in offers], lambda: _print_offers(offers))


def _print_offers(offers: list[Offer]) -> None:
    if not offers:
        typer.echo("no slot fits in this period")
        return
    from rich.console import Console

    table = new_table("Offers, best first", "slot", "start", "mode", "ride", "why")
    for o in offers:
        table.add_row(o.slot, o.start.isoformat(), o.mode, "yes" if o.ride else "no", o.why)
    Console().print(table)


@schedule_app.command("send-offer")
@in_transaction()
def send_offer_command(
    work: Work,
    patient_id: PatientArg,
    service: ServiceOption = None,
    limit: Annotated[int, typer.Option("--limit", help="At most this many choices.")] = 3,
) -> Output:
    """Send the patient the best slots through the outbox ("Reply 1 for Tue 3:45 PM, ...").

    The reply books the choice; the text also carries a signed self-scheduling link. Without
    --service, only the services the patient is due for are offered (as in the portal);
    --service takes a code or the service's name.
    """
    from careloop.access.self_service import send_due_offer

    sent = send_due_offer(
        work.session,
        patient_id=patient_id,
        clock=work.rt.clock,
        settings=work.rt.settings,
        limit=limit,
        service=service,
    )
    work.audit(
        AuditAction.SEND, "slot-offer", Purpose.TREATMENT,
        patient_ids=[patient_id], detail={"offer": sent.offer_id, "choices": sent.choices},
    )  # fmt: skip
    result = {
        "offer": sent.offer_id,
        "choices": sent.choices,
        "outbox_id": sent.outbox_id,
        "not_queued": sent.not_queued,
    }
    fate = (
        f"queued as message {sent.outbox_id}" if sent.outbox_id else f"not sent ({sent.not_queued})"
    )
    return Shown(result, f"offer {sent.offer_id}: {sent.choices} choices, {fate}")


@schedule_app.command("waitlist-add")
@in_transaction(json=False)
def waitlist_add(
    work: Work,
    patient_id: PatientArg,
    service: ServiceOption = None,
    priority: Annotated[int, typer.Option("--priority", help="0-9, higher is more urgent.")] = 0,
    noshow_risk: Annotated[
        float | None, typer.Option("--noshow-risk", help="0-1, from the no-show model.")
    ] = None,
) -> str:
    """Put a patient on the waitlist for an earlier slot (back-filled from cancellations)."""
    from careloop.access.service_names import service_code
    from careloop.access.waitlist import add_to_waitlist

    entry = add_to_waitlist(
        work.session,
        patient_id=patient_id,
        now=work.now(),
        service=None if service is None else service_code(work.session, service),
        priority=priority,
        noshow_risk=noshow_risk,
    )
    work.audit(AuditAction.CREATE, "waitlist", Purpose.TREATMENT, patient_ids=[patient_id])
    return f"waitlist entry {entry.id}"


@schedule_app.command("backfill")
@in_transaction()
def backfill_command(
    work: Work,
    slot_id: Annotated[str, typer.Argument(help="The freed Slot id.", show_default=False)],
) -> Output:
    """Offer a freed slot to the waitlist, then close back-fill offers someone else won."""
    from careloop.access.waitlist import backfill, tell_the_others

    clock, settings = work.rt.clock, work.rt.settings
    offered = backfill(work.session, slot_id=slot_id, clock=clock, settings=settings)
    told = tell_the_others(work.session, clock=clock, settings=settings)
    return Shown(
        {"offered": len(offered), "told_it_went": len(told)},
        f"offered to {len(offered)} waiting patients; {len(told)} told the slot went",
    )


@schedule_app.command("dispatch-rides")
@in_transaction()
def dispatch_rides_command(work: Work) -> Output:
    """Request pending rides from the ride provider and cancel the rides of visits that are
    off (``access.rides`` settings; docs/access.md). First, visits whose caregiver's record
    changed since booking are re-checked (a ride, or a coordinator task; ``rechecked``) and
    visits the EHR moved or cancelled followed (``followed``). The ``ride-dispatch`` job does
    the same."""
    from careloop.access.imported_visits import follow_imports
    from careloop.access.rides import provider_from_settings, run_rides

    settings = work.rt.settings
    provider = provider_from_settings(
        settings.access.rides, public_base_url=settings.security.public_base_url
    )
    followed, checked = follow_imports(work.session, clock=work.rt.clock, settings=settings)
    done = {
        **run_rides(
            work.session, provider=provider, clock=work.rt.clock, principal=cli_principal()
        ),
        "rechecked": [c.as_json() for c in checked],
        "followed": [f.as_json() for f in followed],
    }
    return Shown(
        done,
        f"{done['requested']} rides requested from {provider.name}, {done['cancelled']} cancelled"
        f", {len(checked)} visits re-checked",
    )


@schedule_app.command("metrics")
@in_transaction()
def metrics_command(
    work: Work,
    days: Annotated[int, typer.Option("--days", help="Offers made in the last N days.")] = 30,
) -> Output:
    """Booking conversion per offer, median days from offer to visit, no-show rate."""
    from careloop.access.metrics import access_metrics

    return recent_figures(work, days, access_metrics)


def register(app: typer.Typer) -> None:
    app.add_typer(schedule_app, name="schedule")
