"""CLI of the care team: ``worklist list``, ``alerts ...``, ``plans ...`` and ``ingest-mqtt``."""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from careloop.careteam import alerts, intake, plans
from careloop.careteam.worklist import alert_burden, list_worklist
from careloop.cli.options import ByOption, DatabaseOption, JsonOption
from careloop.cli.support import (
    audit_cli,
    cli_principal,
    command_group,
    emit,
    fail,
    print_json,
    print_recent_figures,
    runtime,
    stderr,
)
from careloop.models import WorklistItem
from careloop.security.principal import Principal
from careloop.security.roles import Role

worklist_app = command_group("The care team's worklist of alerts and tasks.")
alerts_app = command_group("Act on alerts and tasks; escalate overdue ones.")
plans_app = command_group("Care-plan adjustment proposals.")


ItemArg = Annotated[int, typer.Argument(help="Worklist item id.")]


def _operator() -> Principal:
    """The clinician at the terminal (the login name)."""
    return cli_principal(Role.CLINICIAN)


def _by(by: str | None) -> Principal:
    """The clinician at the terminal, named by --by or the login name."""
    return cli_principal(Role.CLINICIAN, name=by)


@worklist_app.command("list")
def worklist_list(
    database: DatabaseOption = None,
    program: Annotated[str | None, typer.Option(help="Only this program.")] = None,
    team: Annotated[str | None, typer.Option(help="Only this team.")] = None,
    assignee: Annotated[str | None, typer.Option(help="Only this assignee.")] = None,
    severity: Annotated[str | None, typer.Option(help="urgent, high or routine.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=5000)] = 200,
    as_json: JsonOption = False,
) -> None:
    """Active alerts and tasks, most pressing first."""
    with runtime(database) as rt, rt.transaction() as session:
        entries = list_worklist(
            session,
            now=rt.clock.now(),
            program=program,
            team=team,
            assignee=assignee,
            severity=severity,
            limit=limit,
        )
        if entries:
            from careloop.audit import AuditAction, Purpose

            audit_cli(
                session, rt, AuditAction.READ, "worklist", Purpose.TREATMENT,
                patient_ids=sorted({e.patient_id for e in entries if e.patient_id}),
                principal=_operator(),
            )  # fmt: skip
    if as_json:
        print_json([e.model_dump(mode="json") for e in entries])
        return
    table = Table("id", "kind", "severity", "status", "patient", "title", "due", "seen")
    for e in entries:
        table.add_row(
            str(e.id),
            e.kind,
            e.severity + ("!" if e.overdue else ""),
            e.status,
            e.patient_id or "(unknown sender)",
            e.title,
            e.due_at.strftime("%Y-%m-%d %H:%M"),
            str(e.occurrences),
        )
    Console().print(table)


def _show(item: Any, as_json: bool) -> None:
    data = {
        "id": item.id,
        "status": item.status,
        "assignee": item.assignee,
        "outcome": item.outcome,
    }
    emit(data, as_json=as_json, text=f"item {item.id}: {item.status}")


def _change_item(
    database: str | None,
    item_id: int,
    change: Callable[..., WorklistItem],
    *,
    principal: Principal,
    as_json: bool,
) -> None:
    """Acknowledge, resolve, assign or link worklist item ``item_id``, then print it."""
    with runtime(database) as rt, rt.transaction() as session:
        _show(change(session, item_id, clock=rt.clock, principal=principal), as_json)


@alerts_app.command("ack")
def alerts_ack(
    item_id: ItemArg,
    database: DatabaseOption = None,
    by: ByOption = None,
    as_json: JsonOption = False,
) -> None:
    """Acknowledge an alert or task."""
    _change_item(database, item_id, alerts.acknowledge, principal=_by(by), as_json=as_json)


@alerts_app.command("resolve")
def alerts_resolve(
    item_id: ItemArg,
    outcome: Annotated[str, typer.Option("--outcome", help="What was done.")],
    database: DatabaseOption = None,
    by: ByOption = None,
    as_json: JsonOption = False,
) -> None:
    """Resolve an alert or task with its outcome."""
    resolve = partial(alerts.resolve, outcome=outcome)
    _change_item(database, item_id, resolve, principal=_by(by), as_json=as_json)


@alerts_app.command("assign")
def alerts_assign(
    item_id: ItemArg,
    to: Annotated[str, typer.Option("--to", help="Assignee.")],
    database: DatabaseOption = None,
    as_json: JsonOption = False,
) -> None:
    """Assign an alert or task."""
    assign = partial(alerts.assign, assignee=to)
    _change_item(database, item_id, assign, principal=_operator(), as_json=as_json)


@alerts_app.command("link")
def alerts_link(
    item_id: Annotated[int, typer.Argument(help="Worklist item id (an unknown sender's task).")],
    patient: Annotated[str, typer.Option("--patient", help="The patient it is from.")],
    database: DatabaseOption = None,
    as_json: JsonOption = False,
) -> None:
    """Link an unknown sender's message task to a patient."""
    from careloop.careteam.unmatched import link_patient

    link = partial(link_patient, patient_id=patient)
    _change_item(database, item_id, link, principal=_operator(), as_json=as_json)


@alerts_app.command("escalate")
def alerts_escalate(database: DatabaseOption = None, as_json: JsonOption = False) -> None:
    """Escalate unacknowledged items past their deadline (run on a schedule)."""
    with runtime(database) as rt, rt.transaction() as session:
        escalated = alerts.escalate_overdue(session, rt.clock.now(), clock=rt.clock)
    emit({"escalated": escalated}, as_json=as_json, text=f"escalated {len(escalated)}")


@alerts_app.command("missing-data")
def alerts_missing_data(database: DatabaseOption = None, as_json: JsonOption = False) -> None:
    """Nudge patients whose readings stopped, then raise call tasks (run daily)."""
    with runtime(database) as rt, rt.transaction() as session:
        done = intake.evaluate_missing_data(session, rt.clock.now(), settings=rt.settings)
    emit(done, as_json=as_json, text=f"nudged {len(done['nudged'])}, tasks {len(done['tasks'])}")


@alerts_app.command("burden")
def alerts_burden(
    database: DatabaseOption = None,
    days: Annotated[int, typer.Option(min=1, max=365)] = 30,
    as_json: JsonOption = False,
) -> None:
    """Alerts per check-in and per input over the last DAYS days."""
    print_recent_figures(database, days, alert_burden, as_json=as_json)


@plans_app.command("approve")
def plans_approve(
    adjustment_id: Annotated[int, typer.Argument()],
    note: Annotated[str | None, typer.Option()] = None,
    database: DatabaseOption = None,
    by: ByOption = None,
) -> None:
    """Approve a proposed plan adjustment (the patient will be told)."""
    _decide(adjustment_id, note=note, database=database, by=by, approve=True)


@plans_app.command("reject")
def plans_reject(
    adjustment_id: Annotated[int, typer.Argument()],
    note: Annotated[str | None, typer.Option()] = None,
    database: DatabaseOption = None,
    by: ByOption = None,
) -> None:
    """Reject a proposed plan adjustment."""
    _decide(adjustment_id, note=note, database=database, by=by, approve=False)


def _decide(
    adjustment_id: int, *, note: str | None, database: str | None, by: str | None, approve: bool
) -> None:
    with runtime(database) as rt, rt.transaction() as session:
        if approve:
            row = plans.approve(
                session,
                adjustment_id,
                clock=rt.clock,
                principal=_by(by),
                settings=rt.settings,
                note=note,
            )
        else:
            row = plans.reject(session, adjustment_id, clock=rt.clock, principal=_by(by), note=note)
        typer.echo(f"plan adjustment {row.id}: {row.status}")


def ingest_mqtt(
    database: DatabaseOption = None,
    host: Annotated[str, typer.Option(help="MQTT broker host.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="MQTT broker port.")] = 1883,
    topic: Annotated[str, typer.Option(help="Subscription.")] = "careloop/readings/#",
    client_id: Annotated[str | None, typer.Option(help="Persistent session id.")] = None,
    max_messages: Annotated[int | None, typer.Option(help="Stop after N messages.")] = None,
    idle_timeout: Annotated[float | None, typer.Option(help="Stop after N idle seconds.")] = None,
    username: Annotated[
        str | None, typer.Option(envvar="CARELOOP_MQTT__USERNAME", help="Broker user.")
    ] = None,
    password_file: Annotated[
        Path | None,
        typer.Option(
            envvar="CARELOOP_MQTT__PASSWORD_FILE",
            help="File holding the broker password (or set CARELOOP_MQTT__PASSWORD).",
        ),
    ] = None,
    tls: Annotated[bool, typer.Option(envvar="CARELOOP_MQTT__TLS", help="Use TLS.")] = False,
    ca_file: Annotated[
        Path | None, typer.Option(envvar="CARELOOP_MQTT__CA_FILE", help="CA of the broker.")
    ] = None,
    cert_file: Annotated[
        Path | None, typer.Option(envvar="CARELOOP_MQTT__CERT_FILE", help="Client certificate.")
    ] = None,
    key_file: Annotated[
        Path | None, typer.Option(envvar="CARELOOP_MQTT__KEY_FILE", help="Client key.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Receive device readings (JSON FHIR Observations) over MQTT until stopped.

    Only readings from devices registered to the topic's patient are accepted
    (``careloop devices register``).
    """
    from careloop.careteam.mqtt_ingest import make_processor
    from careloop.feedback.mqtt import BrokerSecurity, run_ingest

    password = os.environ.get("CARELOOP_MQTT__PASSWORD")
    if password_file is not None:
        try:
            password = password_file.read_text().strip()
        except OSError:
            fail("password-file: cannot be read")
    try:
        security = BrokerSecurity(
            username=username,
            password=password,
            tls=tls,
            ca_file=ca_file,
            cert_file=cert_file,
            key_file=key_file,
        )
    except ValueError as exc:
        fail(str(exc))
    with runtime(database) as rt:
        stats = run_ingest(
            host=host,
            port=port,
            topic=topic,
            client_id=client_id or f"careloop-ingest-{os.getpid()}",
            process=make_processor(rt),
            max_messages=max_messages,
            idle_timeout=idle_timeout,
            on_ready=lambda: stderr.print(f"listening on {host}:{port} {topic}", highlight=False),
            security=security,
        )
    figures = {"received": stats.received, "accepted": stats.accepted, "rejected": stats.rejected}
    emit(
        figures,
        as_json=as_json,
        text=f"received {stats.received}, accepted {stats.accepted}, rejected {stats.rejected}",
    )


def register(app: typer.Typer) -> None:
    app.add_typer(worklist_app, name="worklist")
    app.add_typer(alerts_app, name="alerts")
    app.add_typer(plans_app, name="plans")
    app.command("ingest-mqtt")(ingest_mqtt)
