"""CLI of review invitations: ``careloop reviews invite`` (docs/retention.md)."""

from __future__ import annotations

import typer

from careloop.cli.options import DatabaseOption, JsonOption
from careloop.cli.support import cli_principal, command_group, emit_tally
from careloop.cli.support import runtime as open_cli_runtime
from careloop.security.roles import Role

reviews_app = command_group(
    "Invitations to review the practice after a visit, sent to every patient alike."
)


@reviews_app.command("invite")
def invite_cmd(database: DatabaseOption = None, as_json: JsonOption = False) -> None:
    """Invite the patients whose visit ended (once per visit; the job does this hourly)."""
    from careloop.reviews.service import invite_after_visits

    with open_cli_runtime(database) as rt, rt.transaction() as session:
        tally = invite_after_visits(
            session, clock=rt.clock, settings=rt.settings,
            principal=cli_principal(Role.COORDINATOR),
        )  # fmt: skip
    emit_tally(tally, as_json=as_json, empty="no visits to invite")


def register(app: typer.Typer) -> None:
    app.add_typer(reviews_app, name="reviews")
