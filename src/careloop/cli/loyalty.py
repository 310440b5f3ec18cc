"""CLI of the rewards ledger: ``careloop rewards earn|award|fulfil|cancel|list``.

The caps and the disallowed services are the compliance office's (``loyalty.rewards_file``);
a catalogue that breaks them is refused before anything is earned. See docs/retention.md.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

import typer

from careloop.audit import AuditAction, Purpose
from careloop.cli.options import ByOption, DatabaseOption, JsonOption, PatientOption
from careloop.cli.support import (
    audit_cli,
    cli_principal,
    command_group,
    emit,
    print_json,
    print_rows,
)
from careloop.cli.support import runtime as open_cli_runtime
from careloop.security.roles import Role

rewards_app = command_group(
    "Rewards for preventive care, streaks and referrals, within compliance caps."
)


def _entry(entry: Any) -> dict[str, Any]:
    return {
        "id": entry.id,
        "reward": entry.reward,
        "program": entry.program,
        "value_cents": entry.value_cents,
        "state": entry.state,
        "earned_at": entry.earned_at.isoformat(),
        "fulfilment": entry.fulfilment,
    }


@rewards_app.command("earn")
def earn_cmd(
    database: DatabaseOption = None,
    days: Annotated[
        int | None, typer.Option(help="Read completed care this many days back.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Award what the event log says was earned (idempotent: run it as often as you like)."""
    from careloop.loyalty.catalogue import load_catalogue
    from careloop.loyalty.earning import earn_rewards

    with open_cli_runtime(database) as rt, rt.transaction() as session:
        catalogue = load_catalogue(rt.settings.loyalty.rewards_file)
        lookback = days if days is not None else rt.settings.loyalty.earn_lookback_days
        report = earn_rewards(
            session,
            catalogue=catalogue,
            since=rt.clock.now() - timedelta(days=lookback),
            clock=rt.clock,
            principal=cli_principal(Role.COORDINATOR),
        )
    if as_json:
        print_json(report.as_dict())
        return
    for reward, n in sorted(report.earned.items()):
        typer.echo(f"{reward}: {n} earned")
    for reason, n in sorted(report.refused.items()):
        typer.echo(f"{reason}: {n} refused")
    if not report.earned and not report.refused:
        typer.echo("nothing earned")


@rewards_app.command("award")
def award_cmd(
    reward: Annotated[str, typer.Argument(help="Reward id from the catalogue (e.g. referral).")],
    patient: PatientOption,
    key: Annotated[str, typer.Option("--key", help="What earned it (a referral's id ...).")],
    database: DatabaseOption = None,
    by: ByOption = None,
    as_json: JsonOption = False,
) -> None:
    """Award a reward a person vouches for (a referral), within the caps."""
    from careloop.loyalty.catalogue import load_catalogue
    from careloop.loyalty.ledger import award

    with open_cli_runtime(database) as rt, rt.transaction() as session:
        result = award(
            session,
            catalogue=load_catalogue(rt.settings.loyalty.rewards_file),
            reward_id=reward,
            patient_id=patient,
            source_key=f"staff:{key}",
            clock=rt.clock,
            principal=cli_principal(Role.COORDINATOR, name=by),
        )
        out = {
            "awarded": result.entry is not None,
            "refused": str(result.refused) if result.refused else None,
            "entry": _entry(result.entry) if result.entry else None,
        }
    emit(
        out,
        as_json=as_json,
        text=f"awarded {reward}" if out["awarded"] else f"refused: {out['refused']}",
    )


@rewards_app.command("fulfil")
def fulfil_cmd(
    entry: Annotated[int, typer.Argument(help="Ledger entry id.")],
    reference: Annotated[
        str | None, typer.Option(help="The gift's reference (card number's last digits ...).")
    ] = None,
    database: DatabaseOption = None,
    by: ByOption = None,
    as_json: JsonOption = False,
) -> None:
    """Record that staff handed the reward over."""
    from careloop.loyalty.ledger import Fulfilment, fulfil

    with open_cli_runtime(database) as rt, rt.transaction() as session:
        row = fulfil(
            session,
            entry_id=entry,
            how=Fulfilment.STAFF,
            reference=reference,
            clock=rt.clock,
            principal=cli_principal(Role.COORDINATOR, name=by),
        )
        out = _entry(row)
    emit(out, as_json=as_json, text=f"reward {entry}: {out['state']}")


@rewards_app.command("cancel")
def cancel_cmd(
    entry: Annotated[int, typer.Argument(help="Ledger entry id.")],
    reason: Annotated[str, typer.Option(help="Why (kept on the entry).")],
    database: DatabaseOption = None,
    by: ByOption = None,
) -> None:
    """Cancel an earned reward (it then stops counting against the caps)."""
    from careloop.loyalty.ledger import cancel

    with open_cli_runtime(database) as rt, rt.transaction() as session:
        cancel(
            session,
            entry_id=entry,
            reason=reason,
            clock=rt.clock,
            principal=cli_principal(Role.COORDINATOR, name=by),
        )
    typer.echo(f"reward {entry}: cancelled")


@rewards_app.command("list")
def list_cmd(
    patient: PatientOption,
    database: DatabaseOption = None,
    as_json: JsonOption = False,
) -> None:
    """One patient's rewards, newest first."""
    from careloop.loyalty.ledger import rewards_of

    with open_cli_runtime(database) as rt, rt.transaction() as session:
        rows = [_entry(e) for e in rewards_of(session, patient_id=patient)]
        audit_cli(
            session, rt, AuditAction.READ, "reward_entry", Purpose.OPERATIONS,
            patient_ids=[patient],
        )  # fmt: skip
    print_rows(
        rows,
        as_json=as_json,
        line=lambda r: "\t".join(
            str(r[k]) for k in ("id", "reward", "value_cents", "state", "earned_at")
        ),
    )


def register(app: typer.Typer) -> None:
    app.add_typer(rewards_app, name="rewards")
