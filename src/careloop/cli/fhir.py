"""CLI of the FHIR interface: ``careloop fhir clients add`` registers a SMART backend client;
``careloop fhir subscriptions`` lists Subscriptions and ``careloop fhir dead-letters`` the
notifications that ran out of attempts (``--retry ID`` sends one again)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import orjson
import typer

from careloop.cli.options import DatabaseOption, JsonOption
from careloop.cli.support import command_group, emit, fail, print_json, print_rows, runtime

fhir_app = command_group("The FHIR R4 interface at /fhir.")
clients_app = command_group("SMART backend-services clients.")


@clients_app.command("add")
def clients_add(
    client_id: Annotated[str, typer.Option("--client-id", help="The client's id (its JWT iss).")],
    jwks: Annotated[Path, typer.Option(help="A file with the client's public JWKS.")],
    scope: Annotated[
        list[str], typer.Option(help="An allowed scope, e.g. system/*.read (repeatable).")
    ],
    name: Annotated[str | None, typer.Option(help="A name for people.")] = None,
    database: DatabaseOption = None,
    as_json: JsonOption = False,
) -> None:
    """Register a backend client with its public keys and the scopes it may ask for."""
    from careloop.security.smart import register_client

    try:
        keys = orjson.loads(jwks.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        fail("--jwks: not a readable JSON file")
    with runtime(database) as rt, rt.transaction() as session:
        row = register_client(
            session,
            clock=rt.clock,
            client_id=client_id,
            name=name or client_id,
            jwks=keys,
            scopes=scope,
        )
        result = {"client_id": row.client_id, "scopes": row.scopes}
    emit(
        result,
        as_json=as_json,
        text=f"registered {result['client_id']}: {' '.join(result['scopes'])}",
    )


@fhir_app.command("subscriptions")
def subscriptions_list(database: DatabaseOption = None, as_json: JsonOption = False) -> None:
    """The Subscriptions (and the EHR push): topic, endpoint, status, events sent."""
    from sqlalchemy import select

    from careloop.models import FhirSubscription

    with runtime(database) as rt, rt.transaction() as session:
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
            for r in session.scalars(select(FhirSubscription).order_by(FhirSubscription.id))
        ]
    print_rows(
        rows,
        as_json=as_json,
        line=lambda r: f"{r['id']}  {r['status']:<9}  {r['topic']}  ->  {r['endpoint']}",
        empty="no subscriptions",
    )


@fhir_app.command("dead-letters")
def dead_letters(
    retry: Annotated[
        int | None, typer.Option("--retry", help="Send this dead letter again (its id).")
    ] = None,
    database: DatabaseOption = None,
    as_json: JsonOption = False,
) -> None:
    """Notifications that ran out of attempts (ids and references only, no PHI)."""
    from careloop.fhir.delivery import dead_letters as listed
    from careloop.fhir.delivery import retry_dead

    with runtime(database) as rt, rt.transaction() as session:
        if retry is not None:
            if retry_dead(session, retry) is None:
                fail(f"--retry: no dead letter {retry}")
            rows: list[dict[str, object]] = [{"id": retry, "status": "pending"}]
        else:
            rows = listed(session)
    if as_json:
        print_json(rows)
        return
    if retry is not None:
        typer.echo(f"dead letter {retry} queued again; the fhir-subscriptions job sends it")
        return
    for r in rows:
        typer.echo(
            f"{r['id']}  {r['subscription']}  {r['type']}  {r['focus'] or '-'}  "
            f"{r['attempts']} attempts  {r['last_error']}"
        )
    if not rows:
        typer.echo("no dead letters")


def register(app: typer.Typer) -> None:
    fhir_app.add_typer(clients_app, name="clients")
    app.add_typer(fhir_app, name="fhir")
