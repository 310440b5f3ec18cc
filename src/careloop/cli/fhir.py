"""CLI of the FHIR interface: ``careloop fhir clients add`` registers a SMART backend client."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import orjson
import typer

from careloop.cli.support import DatabaseOption, JsonOption, fail, guarded, print_json, runtime

fhir_app = typer.Typer(help="The FHIR R4 interface at /fhir.", no_args_is_help=True)
clients_app = typer.Typer(help="SMART backend-services clients.", no_args_is_help=True)


@clients_app.command("add")
@guarded
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
    if as_json:
        print_json(result)
    else:
        typer.echo(f"registered {result['client_id']}: {' '.join(result['scopes'])}")


def register(app: typer.Typer) -> None:
    fhir_app.add_typer(clients_app, name="clients")
    app.add_typer(fhir_app, name="fhir")
