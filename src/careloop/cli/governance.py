"""CLI of governance: consent, audit, retention, patient export and erasure, users."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from careloop.audit import AuditAction, ChainReport, Purpose, verify_chain
from careloop.cli.command import Drawn, Output, Shown, Work, Written, in_transaction, open_work
from careloop.cli.options import DatabaseOption, JsonOption, PatientArg
from careloop.cli.records import patients_app
from careloop.cli.support import cli_principal, command_group, emit, fail, json_text, print_json
from careloop.crypto import configured_signing_key
from careloop.errors import InvalidInput
from careloop.governance.consent import consent_history, consent_matrix, record_consent
from careloop.governance.consent_fhir import sync_fhir_consents
from careloop.governance.erasure import erase_patient
from careloop.governance.export import audit_bundle, export_patient_bundle
from careloop.governance.retention import purge_expired
from careloop.records import service as records

consent_app = command_group("Consent per purpose and channel.")
audit_app = command_group("The hash-chained audit trail.")
retention_app = command_group("Retention periods and purging.")
users_app = command_group("Staff accounts.")


@consent_app.command("show")
@in_transaction()
def consent_show(work: Work, patient_id: PatientArg) -> Output:
    """What may be sent to a patient, per purpose and channel, and why."""
    session = work.session
    records.get_patient(session, patient_id)
    matrix = consent_matrix(session, patient_id=patient_id, now=work.now())
    history = consent_history(session, patient_id=patient_id)
    work.audit(AuditAction.READ, "consent", Purpose.OPERATIONS, patient_ids=[patient_id])
    decisions: dict[str, dict[str, dict[str, object]]] = {
        p: {c: {"allowed": d.allowed, "reason": d.reason} for c, d in row.items()}
        for p, row in matrix.items()
    }
    history_rows = [
        {
            "purpose": r.purpose,
            "channel": r.channel,
            "status": r.status,
            "source": r.source,
            "recorded_at": r.recorded_at.isoformat(),
            "recorded_by": r.recorded_by,
        }
        for r in history
    ]
    result = {"patient_id": patient_id, "decisions": decisions, "history": history_rows}
    return Drawn(result, lambda: _print_consent(patient_id, decisions, history_rows))


def _print_consent(
    patient_id: str,
    decisions: dict[str, dict[str, dict[str, object]]],
    history_rows: list[dict[str, str]],
) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"consent of {patient_id}")
    table.add_column("purpose")
    channels = list(next(iter(decisions.values())))
    for channel in channels:
        table.add_column(channel)
    for purpose, row in decisions.items():
        table.add_row(purpose, *("yes" if row[c]["allowed"] else "no" for c in channels))
    Console().print(table)
    for r in history_rows:
        typer.echo(
            f"{r['recorded_at']}  {r['status']:<7} {r['purpose']}/{r['channel']} "
            f"({r['source']}, {r['recorded_by']})"
        )


@consent_app.command("set")
@in_transaction()
def consent_set(
    work: Work,
    patient_id: PatientArg,
    purpose: Annotated[str, typer.Option(help="care-reminders, clinical-monitoring, ... or *")],
    channel: Annotated[str, typer.Option(help="sms, email, voice, portal or *")],
    status: Annotated[str, typer.Option(help="granted or denied")],
    source: Annotated[str, typer.Option(help="form, staff, sms-keyword, portal, ...")] = "staff",
    note: Annotated[str | None, typer.Option(help="Why (no patient details).")] = None,
) -> Output:
    """Record a grant or denial for a patient."""
    records.get_patient(work.session, patient_id)
    row = record_consent(
        work.session,
        patient_id=patient_id,
        purpose=purpose,
        channel=channel,
        status=status,
        source=source,
        actor=cli_principal().actor,
        now=work.now(),
        note=note,
    )
    work.audit(AuditAction.UPDATE, "consent", Purpose.OPERATIONS, patient_ids=[patient_id])
    result = {
        "id": row.id,
        "patient_id": patient_id,
        "purpose": row.purpose,
        "channel": row.channel,
        "status": row.status,
        "source": row.source,
        "recorded_at": row.recorded_at.isoformat(),
    }
    return Shown(
        result, f"{result['status']} {result['purpose']}/{result['channel']} for {patient_id}"
    )


@consent_app.command("sync-fhir")
@in_transaction()
def consent_sync(work: Work) -> Output:
    """Rebuild consent records from imported FHIR Consent resources."""
    summary = sync_fhir_consents(work.session, now=work.now(), actor=cli_principal().actor)
    return Shown(
        summary.as_dict(),
        f"{summary.consents} Consent resources -> {summary.records} consent records",
    )


@dataclass(frozen=True)
class _ChainCheck:
    """The audit chain check, shown; a broken chain then ends the command with exit 1."""

    report: ChainReport

    def show(self, *, as_json: bool) -> None:
        report = self.report
        if as_json:
            print_json(report.as_dict())
        elif report.ok:
            typer.echo(
                f"audit chain intact: {report.checked} events checked ({report.purged} purged)"
            )
        else:
            typer.echo(
                f"audit chain BROKEN at event {report.first_bad_id}: {report.reason} "
                f"({report.checked} events checked before it)"
            )
        if not report.ok:
            raise typer.Exit(1)


@audit_app.command("verify")
@in_transaction()
def audit_verify(work: Work) -> Output:
    """Check the hash chain; exit 1 when it is broken."""
    return _ChainCheck(verify_chain(work.session, key=configured_signing_key(work.rt.settings)))


OutputOption = Annotated[Path | None, typer.Option(help="Write here instead of stdout.")]


@audit_app.command("export")
@in_transaction(json=False)
def audit_export(
    work: Work,
    patient: Annotated[str | None, typer.Option("--patient", help="Only this patient.")] = None,
    fmt: Annotated[str, typer.Option("--format", help="fhir (a Bundle of AuditEvent).")] = "fhir",
    output: OutputOption = None,
) -> Output:
    """Export the audit trail as a FHIR Bundle of AuditEvent resources."""
    if fmt != "fhir":
        raise InvalidInput("only --format fhir is supported", field="format")
    bundle = audit_bundle(work.session, patient_id=patient, now=work.now())
    work.audit(AuditAction.EXPORT, "audit-trail", Purpose.SECURITY, patient_ids=[patient])
    return Written(json_text(bundle), output)


@retention_app.command("purge")
@in_transaction()
def retention_purge(
    work: Work,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Count, delete nothing.")] = False,
) -> Output:
    """Delete what is older than its retention period; aggregates are kept."""
    results = purge_expired(
        work.session,
        settings=work.rt.settings.retention,
        now=work.now(),
        key=configured_signing_key(work.rt.settings),
        dry_run=dry_run,
    )
    if not dry_run:
        work.audit(
            AuditAction.DELETE, "retention-purge", Purpose.RETENTION,
            detail={r["target"]: r["deleted"] for r in results},
        )  # fmt: skip
    return Drawn({"dry_run": dry_run, "targets": results}, lambda: _print_purge(results, dry_run))


def _print_purge(results: list[dict[str, Any]], dry_run: bool) -> None:
    for r in results:
        verb = "would delete" if dry_run else "deleted"
        note = f"  [{r['skipped']}]" if r["skipped"] else ""
        typer.echo(f"{r['target']:<20} {r['days']:>6} d  {verb} {r['deleted']}{note}")


@in_transaction(json=False)
def patients_export(work: Work, patient_id: PatientArg, output: OutputOption = None) -> Output:
    """Everything about a patient as a FHIR R4 Bundle (right of access)."""
    bundle = export_patient_bundle(work.session, patient_id=patient_id, now=work.now())
    work.audit(
        AuditAction.EXPORT, "patient-export", Purpose.PATIENT_REQUEST, patient_ids=[patient_id]
    )
    return Written(json_text(bundle), output)


def patients_erase(
    patient_id: PatientArg,
    reason: Annotated[str, typer.Option(help="The request and its legal basis (no PHI).")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    database: DatabaseOption = None,
    as_json: JsonOption = False,
) -> None:
    """Erase a patient on request: record, resources, caregivers, identifiers, consents."""
    if not reason.strip():
        raise InvalidInput("--reason must say why", field="reason")
    if not yes and sys.stdin.isatty() and not typer.confirm(f"Erase patient {patient_id}?"):
        fail("not erased")
    with open_work(database) as work:
        report = erase_patient(work.session, patient_id=patient_id)
        work.audit(
            AuditAction.DELETE, "patient-erasure", Purpose.PATIENT_REQUEST,
            patient_ids=[patient_id],
            detail={"reason": reason.strip()[:200], "deleted": report.as_dict()["deleted"]},
        )  # fmt: skip
    total = sum(report.deleted.values())
    emit(
        report.as_dict(),
        as_json=as_json,
        text=f"erased {patient_id}: {total} rows deleted, "
        f"{report.pseudonymized_events} events pseudonymized; the audit trail is kept",
    )


@users_app.command("create")
def users_create(
    username: Annotated[str, typer.Argument(help="Sign-in name.")],
    role: Annotated[str, typer.Option(help="admin, clinician, coordinator or analyst.")],
    password_file: Annotated[
        Path | None, typer.Option(help="Read the password from this file (else prompt).")
    ] = None,
    database: DatabaseOption = None,
) -> None:
    """Create a staff account (the password never goes on the command line)."""
    from careloop.security.auth import create_user
    from careloop.security.roles import STAFF_ROLES, Role

    if role not in {str(r) for r in STAFF_ROLES}:
        raise InvalidInput(f"role must be one of {sorted(STAFF_ROLES)}", field="role")
    if password_file is not None:
        password = password_file.read_text().strip()
    else:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    with open_work(database) as work:
        user = create_user(
            work.session, clock=work.rt.clock, username=username, password=password, role=Role(role)
        )
        work.audit(
            AuditAction.CREATE, "user", Purpose.SECURITY, detail={"user_id": user.id, "role": role}
        )
    typer.echo(f"created {role} {username}")


@users_app.command("enable-totp")
@in_transaction(json=False)
def users_enable_totp(
    work: Work, username: Annotated[str, typer.Argument(help="Sign-in name.")]
) -> str:
    """Turn on a second factor: prints the otpauth:// URI once, for an authenticator app."""
    from sqlalchemy import select

    from careloop.errors import NotFound
    from careloop.models import User
    from careloop.security.totp import enable_totp

    user = work.session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound("no such user")
    uri = enable_totp(user)
    work.audit(AuditAction.UPDATE, "user-totp", Purpose.SECURITY, detail={"user_id": user.id})
    return uri


def register(app: typer.Typer) -> None:
    """Attach governance commands; export/erase join the records' ``patients`` group."""
    app.add_typer(consent_app, name="consent")
    app.add_typer(audit_app, name="audit")
    app.add_typer(retention_app, name="retention")
    app.add_typer(users_app, name="users")
    patients_app.command("export")(patients_export)
    patients_app.command("erase")(patients_erase)
