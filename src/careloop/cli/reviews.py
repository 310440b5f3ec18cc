"""CLI of review invitations: ``careloop reviews invite`` (docs/retention.md)."""

from __future__ import annotations

import typer

from careloop.cli.command import Output, Tally, Work, in_transaction
from careloop.cli.support import cli_principal, command_group
from careloop.security.roles import Role

reviews_app = command_group(
    "Invitations to review the practice after a visit, sent to every patient alike."
)


@reviews_app.command("invite")
@in_transaction()
def invite_cmd(work: Work) -> Output:
    """Invite the patients whose visit ended (once per visit; the job does this hourly)."""
    from careloop.reviews.service import invite_after_visits

    tally = invite_after_visits(
        work.session, clock=work.rt.clock, settings=work.rt.settings,
        principal=cli_principal(Role.COORDINATOR),
    )  # fmt: skip
    return Tally(tally, empty="no visits to invite")


def register(app: typer.Typer) -> None:
    app.add_typer(reviews_app, name="reviews")
