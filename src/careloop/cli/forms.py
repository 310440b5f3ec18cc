"""CLI of forms signed on the phone: ``careloop forms list|send|sent`` (docs/retention.md)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from careloop.audit import AuditAction, Purpose
from careloop.cli.command import Listed, Output, Shown, Work, in_transaction, showing
from careloop.cli.options import PatientOption
from careloop.cli.support import cli_principal, command_group
from careloop.security.roles import Role

forms_app = command_group(
    "Forms (intake, consent, questionnaires) sent to the phone and signed there."
)


@forms_app.command("list")
@showing()
def list_cmd() -> Output:
    """The forms a practice can send, their kind and languages."""
    from careloop.forms.catalogue import load_forms

    rows: dict[str, dict[str, Any]] = {}
    for (form_id, language), form in sorted(load_forms().items()):
        row = rows.setdefault(form_id, {"id": form_id, "kind": str(form.kind), "languages": []})
        row["languages"].append(language)
        if language == "en":
            row["title"] = form.title
    return Listed(
        list(rows.values()),
        line=lambda r: f"{r['id']}\t{r['kind']}\t{','.join(r['languages'])}\t{r.get('title', '')}",
    )


@forms_app.command("send")
@in_transaction()
def send_cmd(
    work: Work,
    form: Annotated[str, typer.Argument(help="Form id (careloop forms list).")],
    patient: PatientOption,
) -> Output:
    """Send the patient a signed link to fill in and sign the form on their phone."""
    from careloop.forms.service import send_form

    sent = send_form(
        work.session, patient_id=patient, form_id=form, clock=work.rt.clock,
        settings=work.rt.settings, principal=cli_principal(Role.COORDINATOR),
    )  # fmt: skip
    out = {"request": sent.request_id, "queued": sent.outbox_id is not None,
           "not_queued": sent.not_queued}  # fmt: skip
    return Shown(
        out,
        f"form {form} sent ({sent.request_id})"
        if sent.outbox_id
        else f"form {form} stored ({sent.request_id}) but not sent: {sent.not_queued}",
    )


@forms_app.command("sent")
@in_transaction()
def sent_cmd(work: Work, patient: PatientOption) -> Output:
    """The forms sent to a patient: state, when signed, the SHA-256 of what was signed."""
    from careloop.forms.service import forms_of

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
        for f in forms_of(work.session, patient_id=patient)
    ]
    work.audit(AuditAction.READ, "form-request", Purpose.TREATMENT, patient_ids=[patient])
    return Listed(
        rows, line=lambda r: f"{r['request']}\t{r['form']}\t{r['state']}\t{r['sha256'] or ''}"
    )


def register(app: typer.Typer) -> None:
    app.add_typer(forms_app, name="forms")
