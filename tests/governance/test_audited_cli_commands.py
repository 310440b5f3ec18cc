"""Every ``careloop`` command that reads or writes a patient's data leaves an audit row.

The commands are read from the CLI itself (the Typer app's click tree, not a list kept by
hand) and each must be classified below: ``phi-read``, ``phi-write`` or ``no-phi``, with the
driver that proves its audit row or the reason it needs none, so a new command fails the
first test until someone decides. Each driver runs its command as an operator does, on
SQLite and PostgreSQL, and finds a row naming the actor, the action and the patient;
``careloop audit verify`` still finds the chain intact.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import click
import pytest
import typer
from sqlalchemy import func, select
from tests.governance.conftest import CAREGIVER_A, PATIENT_A, load
from tests.governance.test_audited_entry_points import (
    Audited,
    World,
    _cli,
    cli_consent_set,
    cli_preferences_set,
    cli_preferences_show,
    runner,
)

from careloop.cli import app as cli_app
from careloop.models import AuditEvent, Enrollment
from careloop.runtime import Runtime

READ, WRITE, NONE = "phi-read", "phi-write", "no-phi"


def patients_show(world: World) -> Audited:
    load(world.rt, world.tmp_path)
    _cli(world, "patients", "show", PATIENT_A)
    return Audited("cli:", "read", "patient-record", PATIENT_A)


def patients_list(world: World) -> Audited:
    load(world.rt, world.tmp_path)
    _cli(world, "patients", "list")
    return Audited("cli:", "read", "patient-list", PATIENT_A)


def patients_export(world: World) -> Audited:
    load(world.rt, world.tmp_path)
    _cli(world, "patients", "export", PATIENT_A, "--output", str(world.tmp_path / "a.json"))
    return Audited("cli:", "export", "patient-export", PATIENT_A)


def consent_show(world: World) -> Audited:
    load(world.rt, world.tmp_path)
    _cli(world, "consent", "show", PATIENT_A)
    return Audited("cli:", "read", "consent", PATIENT_A)


def caregivers_set_availability(world: World) -> Audited:
    load(world.rt, world.tmp_path)
    _cli(world, "caregivers", "set-availability", CAREGIVER_A, "--window", "mon-fri 15:00-21:00")
    return Audited("cli:", "update", "caregiver", PATIENT_A)


def outreach_enrollments(world: World) -> Audited:
    load(world.rt, world.tmp_path)
    now = world.rt.clock.now()
    with world.rt.transaction() as session:
        session.add(
            Enrollment(
                patient_id=PATIENT_A, program="flu-shot-this-season", episode="2026",
                arm="outreach", state="active", enrolled_at=now - timedelta(days=1),
                state_changed_at=now - timedelta(days=1),
            )
        )  # fmt: skip
    _cli(world, "outreach", "enrollments")
    return Audited("cli:", "read", "enrollment", PATIENT_A)


def _read_by_patient(*args: str, action: str = "read") -> Callable[[World], Audited]:
    """A command that shows one patient's rows (none yet is still a read of their record)."""

    def drive(world: World) -> Audited:
        load(world.rt, world.tmp_path)
        _cli(world, *args)
        return Audited("cli:", action, "", PATIENT_A)

    return drive


def worklist_list(world: World) -> Audited:
    from careloop.careteam.alerts import create_task
    from careloop.feedback.ruleset import Severity

    load(world.rt, world.tmp_path)
    with world.rt.transaction() as session:
        create_task(
            session, patient_id=PATIENT_A, rule_id="cli-audit", title="Call the patient",
            summary="No answer", severity=Severity.URGENT, clock=world.rt.clock, actor="test",
        )  # fmt: skip
    _cli(world, "worklist", "list")
    return Audited("cli:", "read", "worklist", PATIENT_A)


def schedule_dispatch_rides(world: World) -> Audited:
    from tests.access.test_rides import _booked_with_ride

    _booked_with_ride(world.rt, world.tmp_path)
    _cli(world, "schedule", "dispatch-rides")
    return Audited("cli:", "send", "ride", "p-001")


DRIVERS: dict[str, Callable[[World], Audited]] = {
    "schedule dispatch-rides": schedule_dispatch_rides,
    "worklist list": worklist_list,
    "rewards list": _read_by_patient("rewards", "list", "--patient", PATIENT_A),
    "forms sent": _read_by_patient("forms", "sent", "--patient", PATIENT_A),
    "tools usage": _read_by_patient("tools", "usage", "--patient", PATIENT_A),
    "audit export": _read_by_patient(
        "audit", "export", "--patient", PATIENT_A, "--output", "/dev/null", action="export"
    ),
    "patients show": patients_show,
    "patients list": patients_list,
    "patients export": patients_export,
    "consent show": consent_show,
    "consent set": cli_consent_set,
    "preferences show": cli_preferences_show,
    "preferences set": cli_preferences_set,
    "caregivers set-availability": caregivers_set_availability,
    "outreach enrollments": outreach_enrollments,
}

AUDITED = "audited, not yet driven here"
COMMANDS: dict[str, tuple[str, str]] = {
    # command: (class, the driver above that proves its audit row, or why none is needed)
    "alerts ack": (WRITE, AUDITED + " (careteam.alerts)"),
    "alerts assign": (WRITE, AUDITED + " (careteam.alerts)"),
    "alerts burden": (NONE, "counts per check-in and input, no patient"),
    "alerts escalate": (WRITE, AUDITED + " (careteam.alerts)"),
    "alerts link": (WRITE, AUDITED + " (careteam.alerts)"),
    "alerts missing-data": (WRITE, AUDITED + " (careteam: nudges and call tasks)"),
    "alerts resolve": (WRITE, AUDITED + " (careteam.alerts)"),
    "audit export": (READ, "audit export"),
    "audit verify": (NONE, "hashes of the chain, no patient"),
    "caregivers manages-medications": (WRITE, AUDITED + " (cli/records, as set-availability)"),
    "caregivers set-availability": (WRITE, "caregivers set-availability"),
    "consent set": (WRITE, "consent set"),
    "consent show": (READ, "consent show"),
    "consent sync-fhir": (WRITE, AUDITED + " (governance.consent_fhir)"),
    "contacts reindex": (NONE, "rebuilds keyed digests, shows counts only"),
    "content approve": (NONE, "message library"),
    "content checkin-items": (NONE, "message library"),
    "content draft": (NONE, "message library"),
    "content lint": (NONE, "message library"),
    "content render": (NONE, "message library, sample values"),
    "content retire": (NONE, "message library"),
    "content show": (NONE, "message library"),
    "content sync": (NONE, "message library"),
    "content versions": (NONE, "message library"),
    "db current": (NONE, "schema revision"),
    "db downgrade": (NONE, "schema"),
    "db history": (NONE, "schema revisions"),
    "db upgrade": (NONE, "schema"),
    "decide": (WRITE, AUDITED + " (cli/outreach: the decision per patient)"),
    "demo": (NONE, "synthetic demo site"),
    "devices broker-acl": (NONE, "broker credentials"),
    "devices list": (READ, AUDITED + " (cli/devices)"),
    "devices register": (WRITE, AUDITED + " (cli/devices)"),
    "devices revoke": (WRITE, AUDITED + " (cli/devices)"),
    "engine compare": (NONE, "aggregate figures of the engine"),
    "engine promote": (NONE, "a model version"),
    "fhir clients add": (NONE, "a SMART client"),
    "fhir dead-letters": (NONE, "ids and references of failed notifications"),
    "fhir subscriptions": (NONE, "a client's subscriptions"),
    "forms list": (NONE, "the form catalogue"),
    "forms send": (WRITE, AUDITED + " (forms.service)"),
    "forms sent": (READ, "forms sent"),
    "import": (WRITE, AUDITED + " (records.importer, one event per patient)"),
    "ingest-mqtt": (WRITE, AUDITED + " (records.resources for each reading)"),
    "jobs list": (NONE, "job schedule"),
    "jobs run": (WRITE, "each job audits as its own command does"),
    "keys re-encrypt": (NONE, "re-encrypts in place, shows counts only"),
    "keys re-index": (NONE, "re-keys digests, shows counts only"),
    "measure evaluate": (NONE, "aggregate measure figures"),
    "measure load": (NONE, "measure definitions"),
    "medications ae-export": (READ, AUDITED + " (cli/medications)"),
    "medications ae-queue": (NONE, "the queue without PHI (ids and deadlines)"),
    "medications ae-triage": (WRITE, AUDITED + " (cli/medications)"),
    "medications confirm": (WRITE, AUDITED + " (cli/medications)"),
    "medications pause": (WRITE, AUDITED + " (cli/medications)"),
    "medications prep-outcome": (WRITE, AUDITED + " (cli/medications)"),
    "medications prep-start": (WRITE, AUDITED + " (cli/medications)"),
    "medications reminders": (WRITE, AUDITED + " (cli/medications)"),
    "medications resume": (WRITE, AUDITED + " (cli/medications)"),
    "medications run": (WRITE, AUDITED + " (cli/medications)"),
    "medications stop": (WRITE, AUDITED + " (cli/medications)"),
    "nightly": (WRITE, "each stage audits as its own command does"),
    "ope": (NONE, "aggregate off-policy estimates"),
    "outreach enrollments": (READ, "outreach enrollments"),
    "outreach outbox": (NONE, "counts per state"),
    "outreach tick": (WRITE, AUDITED + " (outreach: decisions and sends)"),
    "patients erase": (WRITE, AUDITED + " (patient-erasure)"),
    "patients export": (READ, "patients export"),
    "patients list": (READ, "patients list"),
    "patients show": (READ, "patients show"),
    "plans approve": (WRITE, AUDITED + " (careteam.plans)"),
    "plans reject": (WRITE, AUDITED + " (careteam.plans)"),
    "preferences set": (WRITE, "preferences set"),
    "preferences show": (READ, "preferences show"),
    "programs list": (NONE, "program definitions"),
    "programs run": (WRITE, AUDITED + " (cli/programs)"),
    "programs show": (NONE, "a program definition"),
    "programs validate": (NONE, "program definitions"),
    "records backfill-facts": (NONE, "derived columns from stored resources, counts only"),
    "report": (NONE, "aggregate figures"),
    "retention purge": (WRITE, AUDITED + " (retention-purge)"),
    "reviews invite": (WRITE, AUDITED + " (cli/reviews)"),
    "rewards award": (WRITE, AUDITED + " (reward)"),
    "rewards cancel": (WRITE, AUDITED + " (reward)"),
    "rewards earn": (WRITE, AUDITED + " (reward)"),
    "rewards fulfil": (WRITE, AUDITED + " (reward)"),
    "rewards list": (READ, "rewards list"),
    "risk evaluate noshow": (NONE, "a CSV of appointments, aggregate metrics"),
    "risk train noshow": (NONE, "a CSV of appointments, a model out"),
    "rules list": (NONE, "rule definitions"),
    "rules test": (NONE, "rules on sample values from a file"),
    "schedule backfill": (WRITE, AUDITED + " (cli/schedule)"),
    "schedule dispatch-rides": (WRITE, "schedule dispatch-rides"),
    "schedule metrics": (NONE, "aggregate figures"),
    "schedule offer": (WRITE, AUDITED + " (cli/schedule)"),
    "schedule send-offer": (WRITE, AUDITED + " (cli/schedule)"),
    "schedule waitlist-add": (WRITE, AUDITED + " (cli/schedule)"),
    "segments list": (NONE, "segment definitions and counts"),
    "segments members": (READ, AUDITED + " (segment members)"),
    "send": (WRITE, AUDITED + " (cli/outreach)"),
    "serve": (NONE, "starts the web app (whose routes are classified)"),
    "simulate": (NONE, "synthetic population"),
    "tools follow-up": (WRITE, AUDITED + " (cli/digitaltools)"),
    "tools list": (NONE, "the tool catalogue"),
    "tools prescribe": (WRITE, AUDITED + " (cli/digitaltools)"),
    "tools usage": (READ, "tools usage"),
    "users create": (NONE, "security event"),
    "users enable-totp": (NONE, "security event"),
    "worker": (WRITE, "sends the outbox; audited as sent (outreach.worker)"),
    "worklist list": (READ, "worklist list"),
}


def _commands(group: click.Command, prefix: tuple[str, ...] = ()) -> Iterator[str]:
    if isinstance(group, click.Group):
        for name, command in group.commands.items():
            yield from _commands(command, (*prefix, name))
    else:
        yield " ".join(prefix)


def test_every_command_is_classified() -> None:
    """A new command must be added above: with its driver, or why it touches no patient."""
    commands = set(_commands(typer.main.get_command(cli_app)))
    assert sorted(commands - set(COMMANDS)) == []
    assert sorted(set(COMMANDS) - commands) == []
    assert {kind for kind, _why in COMMANDS.values()} == {READ, WRITE, NONE}
    for command in DRIVERS:
        assert COMMANDS[command] == (COMMANDS[command][0], command), command
        assert COMMANDS[command][0] in (READ, WRITE), command


@pytest.mark.parametrize("command", sorted(DRIVERS))
def test_each_phi_command_audits_who_did_what_to_whose_data(
    command: str, rt: Runtime, tmp_path: Path, api_client: Callable[..., object]
) -> None:
    world = World(rt, tmp_path, api_client)
    with rt.transaction() as session:
        before = session.scalar(select(func.coalesce(func.max(AuditEvent.id), 0)))

    expected = DRIVERS[command](world)

    with rt.transaction() as session:
        rows = session.scalars(select(AuditEvent).where(AuditEvent.id > before)).all()
    verified = runner.invoke(
        cli_app, ["audit", "verify", "--json", "--database", rt.settings.database_url]
    )
    found = [
        r
        for r in rows
        if r.actor.startswith(expected.actor)
        and r.action == expected.action
        and r.resource.startswith(expected.resource)
        and r.patient_id == expected.patient_id
    ]
    assert found, [(r.actor, r.action, r.resource, r.patient_id) for r in rows]
    assert (verified.exit_code, json.loads(verified.stdout)["ok"]) == (0, True), verified.output
