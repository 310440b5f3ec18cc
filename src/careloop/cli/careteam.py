"""CLI of the care team: ``worklist list``, ``alerts ...``, ``plans ...`` and ``ingest-mqtt``."""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from careloop.careteam import alerts, intake, plans
from careloop.careteam.worklist import WorklistEntry, alert_burden, list_worklist
from careloop.cli.command import Drawn, Output, Shown, Work, in_transaction, recent_figures
from careloop.cli.options import ByOption, DatabaseOption, JsonOption
from careloop.cli.support import cli_principal, command_group, emit, fail, runtime, stderr
from careloop.models import WorklistItem
from careloop.security.principal import Principal
from careloop.security.roles import Role

DEFAULT_CLIENT_ID = "careloop-ingest"
"""The ingest's MQTT session, the same on every start: a restarted ingest resumes it and
receives the QoS 1 readings the broker kept while it was down (one ingest per broker; a
second one needs an id of its own)."""

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
@in_transaction()
def worklist_list(
    work: Work,
    program: Annotated[str | None, typer.Option(help="Only this program.")] = None,
    team: Annotated[str | None, typer.Option(help="Only this team.")] = None,
    assignee: Annotated[str | None, typer.Option(help="Only this assignee.")] = None,
    severity: Annotated[str | None, typer.Option(help="urgent, high or routine.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=5000)] = 200,
) -> Output:
    """Active alerts and tasks, most pressing first."""
    entries = list_worklist(
        work.session,
        now=work.now(),
        program=program,
        team=team,
        assignee=assignee,
        severity=severity,
        limit=limit,
    )
    if entries:
        from careloop.audit import AuditAction, Purpose

        work.audit(
            AuditAction.READ, "worklist", Purpose.TREATMENT,
            patient_ids=sorted({e.patient_id for e in entries if e.patient_id}),
            principal=_operator(),
        )  # fmt: skip
    return Drawn([e.model_dump(mode="json") for e in entries], lambda: _print_worklist(entries))


def _print_worklist(entries: list[WorklistEntry]) -> None:
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


def _change_item(
    work: Work, item_id: int, change: Callable[..., WorklistItem], *, principal: Principal
) -> Output:
    """Acknowledge, resolve, assign or link worklist item ``item_id``, then show it."""
    item = change(work.session, item_id, clock=work.rt.clock, principal=principal)
    data = {
        "id": item.id,
        "status": item.status,
        "assignee": item.assignee,
        "outcome": item.outcome,
    }
    return Shown(data, f"item {item.id}: {item.status}")


@alerts_app.command("ack")
@in_transaction()
def alerts_ack(work: Work, item_id: ItemArg, by: ByOption = None) -> Output:
    """Acknowledge an alert or task."""
    return _change_item(work, item_id, alerts.acknowledge, principal=_by(by))


@alerts_app.command("resolve")
@in_transaction()
def alerts_resolve(
    work: Work,
    item_id: ItemArg,
    outcome: Annotated[str, typer.Option("--outcome", help="What was done.")],
    by: ByOption = None,
) -> Output:
    """Resolve an alert or task with its outcome."""
    resolve = partial(alerts.resolve, outcome=outcome)
    return _change_item(work, item_id, resolve, principal=_by(by))


@alerts_app.command("assign")
@in_transaction()
def alerts_assign(
    work: Work, item_id: ItemArg, to: Annotated[str, typer.Option("--to", help="Assignee.")]
) -> Output:
    """Assign an alert or task."""
    return _change_item(work, item_id, partial(alerts.assign, assignee=to), principal=_operator())


@alerts_app.command("link")
@in_transaction()
def alerts_link(
    work: Work,
    item_id: Annotated[int, typer.Argument(help="Worklist item id (an unknown sender's task).")],
    patient: Annotated[str, typer.Option("--patient", help="The patient it is from.")],
) -> Output:
    """Link an unknown sender's message task to a patient."""
    from careloop.careteam.unmatched import link_patient

    link = partial(link_patient, patient_id=patient)
    return _change_item(work, item_id, link, principal=_operator())


@alerts_app.command("escalate")
@in_transaction()
def alerts_escalate(work: Work) -> Output:
    """Escalate unacknowledged items past their deadline (run on a schedule)."""
    escalated = alerts.escalate_overdue(work.session, work.now(), clock=work.rt.clock)
    return Shown({"escalated": escalated}, f"escalated {len(escalated)}")


@alerts_app.command("missing-data")
@in_transaction()
def alerts_missing_data(work: Work) -> Output:
    """Nudge patients whose readings stopped, then raise call tasks (run daily)."""
    done = intake.evaluate_missing_data(work.session, work.now(), settings=work.rt.settings)
    return Shown(done, f"nudged {len(done['nudged'])}, tasks {len(done['tasks'])}")


@alerts_app.command("burden")
@in_transaction()
def alerts_burden(work: Work, days: Annotated[int, typer.Option(min=1, max=365)] = 30) -> Output:
    """Alerts per check-in and per input over the last DAYS days."""
    return recent_figures(work, days, alert_burden)


NoteOption = Annotated[str | None, typer.Option()]


@plans_app.command("approve")
@in_transaction(json=False)
def plans_approve(
    work: Work,
    adjustment_id: Annotated[int, typer.Argument()],
    note: NoteOption = None,
    by: ByOption = None,
) -> str:
    """Approve a proposed plan adjustment (the patient will be told)."""
    row = plans.approve(
        work.session,
        adjustment_id,
        clock=work.rt.clock,
        principal=_by(by),
        settings=work.rt.settings,
        note=note,
    )
    return f"plan adjustment {row.id}: {row.status}"


@plans_app.command("reject")
@in_transaction(json=False)
def plans_reject(
    work: Work,
    adjustment_id: Annotated[int, typer.Argument()],
    note: NoteOption = None,
    by: ByOption = None,
) -> str:
    """Reject a proposed plan adjustment."""
    row = plans.reject(
        work.session, adjustment_id, clock=work.rt.clock, principal=_by(by), note=note
    )
    return f"plan adjustment {row.id}: {row.status}"


def ingest_mqtt(
    database: DatabaseOption = None,
    host: Annotated[str, typer.Option(help="MQTT broker host.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="MQTT broker port.")] = 1883,
    topic: Annotated[str, typer.Option(help="Subscription.")] = "careloop/readings/#",
    client_id: Annotated[
        str,
        typer.Option(
            envvar="CARELOOP_MQTT__CLIENT_ID",
            help="Persistent session id: keep it across restarts, or the broker keeps "
            "what arrived meanwhile for a session nobody resumes.",
        ),
    ] = DEFAULT_CLIENT_ID,
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
            client_id=client_id,
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
