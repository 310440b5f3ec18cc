"""CLI of the FHIR interface: ``careloop fhir clients add`` registers a SMART backend client;
``careloop fhir subscriptions`` lists Subscriptions and ``careloop fhir dead-letters`` the
notifications that ran out of attempts (``--retry ID`` sends one again)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import orjson
import typer

from careloop.cli.command import Listed, Output, Shown, Work, in_transaction
from careloop.cli.support import command_group, fail

fhir_app = command_group("The FHIR R4 interface at /fhir.")
clients_app = command_group("SMART backend-services clients.")


@clients_app.command("add")
@in_transaction()
def clients_add(
    work: Work,
    client_id: Annotated[str, typer.Option("--client-id", help="The client's id (its JWT iss).")],
    jwks: Annotated[Path, typer.Option(help="A file with the client's public JWKS.")],
    scope: Annotated[
        list[str], typer.Option(help="An allowed scope, e.g. system/*.read (repeatable).")
    ],
    name: Annotated[str | None, typer.Option(help="A name for people.")] = None,
) -> Output:
    """Register a backend client with its public keys and the scopes it may ask for."""
    from careloop.security.smart import register_client

    try:
        keys = orjson.loads(jwks.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        fail("--jwks: not a readable JSON file")
    row = register_client(
        work.session,
        clock=work.rt.clock,
        client_id=client_id,
        name=name or client_id,
        jwks=keys,
        scopes=scope,
    )
    result = {"client_id": row.client_id, "scopes": row.scopes}
    return Shown(result, f"registered {row.client_id}: {' '.join(row.scopes)}")


@fhir_app.command("subscriptions")
@in_transaction()
def subscriptions_list(work: Work) -> Output:
    """The Subscriptions (and the EHR push): topic, endpoint, status, events sent."""
    from sqlalchemy import select

    from careloop.models import FhirSubscription

    rows = [
        {
            "id": r.id,
            "channel": r.kind,
            "topic": r.topic,
            "status": r.status,
            "endpoint": r.endpoint,
            "filters": r.filters,
            "events": r.events,
            "last_sent_at": r.last_sent_at,
        }
        for r in work.session.scalars(select(FhirSubscription).order_by(FhirSubscription.id))
    ]
    return Listed(
        rows,
        line=lambda r: f"{r['id']}  {r['status']:<9}  {r['topic']}  ->  {r['endpoint']}",
        empty="no subscriptions",
    )


@fhir_app.command("dead-letters")
@in_transaction()
def dead_letters(
    work: Work,
    retry: Annotated[
        int | None, typer.Option("--retry", help="Send this dead letter again (its id).")
    ] = None,
) -> Output:
    """Notifications that ran out of attempts (ids and references only, no PHI)."""
    from careloop.fhir.delivery import dead_letters as listed
    from careloop.fhir.delivery import retry_dead

    if retry is None:
        return Listed(
            listed(work.session),
            line=lambda r: f"{r['id']}  {r['subscription']}  {r['type']}  {r['focus'] or '-'}  "
            f"{r['attempts']} attempts  {r['last_error']}",
            empty="no dead letters",
        )
    if retry_dead(work.session, retry) is None:
        fail(f"--retry: no dead letter {retry}")
    return Shown(
        [{"id": retry, "status": "pending"}],
        f"dead letter {retry} queued again; the fhir-subscriptions job sends it",
    )


def register(app: typer.Typer) -> None:
    fhir_app.add_typer(clients_app, name="clients")
    app.add_typer(fhir_app, name="fhir")
