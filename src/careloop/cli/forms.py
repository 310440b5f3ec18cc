"""CLI of forms signed on the phone: ``careloop forms list|send|sent`` (docs/retention.md)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from careloop.audit import AuditAction, Purpose
from careloop.cli.options import DatabaseOption, JsonOption, PatientOption
from careloop.cli.support import audit_cli, cli_principal, command_group, print_json, print_rows
from careloop.cli.support import runtime as open_cli_runtime
from careloop.security.roles import Role

forms_app = command_group(
    "Forms (intake, consent, questionnaires) sent to the phone and signed there."
)


@forms_app.command("list")
def list_cmd(as_json: JsonOption = False) -> None:
    """The forms a practice can send, their kind and languages."""
    from careloop.forms.catalogue import load_forms

    rows: dict[str, dict[str, Any]] = {}
    for (form_id, language), form in sorted(load_forms().items()):
        row = rows.setdefault(form_id, {"id": form_id, "kind": str(form.kind), "languages": []})
        row["languages"].append(language)
        if language == "en":
            row["title"] = form.title
    print_rows(
        list(rows.values()),
        as_json=as_json,
        line=lambda r: f"{r['id']}\t{r['kind']}\t{','.join(r['languages'])}\t{r.get('title', '')}",
    )


@forms_app.command("send")
def send_cmd(
    form: Annotated[str, typer.Argument(help="Form id (careloop forms list).")],
    patient: PatientOption,
    database: DatabaseOption = None,
    as_json: JsonOption = False,
) -> None:
    """Send the patient a signed link to fill in and sign the form on their phone."""
    from careloop.forms.service import send_form

    with open_cli_runtime(database) as rt, rt.transaction() as session:
        sent = send_form(
            session, patient_id=patient, form_id=form, clock=rt.clock, settings=rt.settings,
            principal=cli_principal(Role.COORDINATOR),
        )  # fmt: skip
    out = {"request": sent.request_id, "queued": sent.outbox_id is not None,
           "not_queued": sent.not_queued}  # fmt: skip
    print_json(out) if as_json else typer.echo(
        f"form {form} sent ({sent.request_id})" if sent.outbox_id else
        f"form {form} stored ({sent.request_id}) but not sent: {sent.not_queued}"
    )  # fmt: skip


@forms_app.command("sent")
def sent_cmd(
    patient: PatientOption, database: DatabaseOption = None, as_json: JsonOption = False
) -> None:
    """The forms sent to a patient: state, when signed, the SHA-256 of what was signed."""
    from careloop.forms.service import forms_of

    with open_cli_runtime(database) as rt, rt.transaction() as session:
        rows = [
            {
                "request": f.id,
                "form": f.form,
                "state": f.state,
                "sent_at": f.sent_at,
                "signed_at": f.signed_at,
                "sha256": f.document_sha256,
                "resources": f.signed_resources or [],
            }
            for f in forms_of(session, patient_id=patient)
        ]
        audit_cli(session, rt, AuditAction.READ, "form-request", Purpose.TREATMENT,
                  patient_ids=[patient])  # fmt: skip
    print_rows(
        rows,
        as_json=as_json,
        line=lambda r: f"{r['request']}\t{r['form']}\t{r['state']}\t{r['sha256'] or ''}",
    )


def register(app: typer.Typer) -> None:
    app.add_typer(forms_app, name="forms")
