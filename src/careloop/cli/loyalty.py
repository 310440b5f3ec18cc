"""CLI of the rewards ledger: ``careloop rewards earn|award|fulfil|cancel|list``.

The caps and the disallowed services are the compliance office's (``loyalty.rewards_file``);
a catalogue that breaks them is refused before anything is earned. See docs/retention.md.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Annotated, Any

import typer

from careloop.audit import AuditAction, Purpose
from careloop.cli.command import Drawn, Listed, Output, Shown, Work, in_transaction
from careloop.cli.options import ByOption, PatientOption
from careloop.cli.support import cli_principal, command_group
from careloop.security.roles import Role

if TYPE_CHECKING:
    from careloop.loyalty.earning import EarnReport

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


def _say_earned(report: EarnReport) -> None:
    for reward, n in sorted(report.earned.items()):
        typer.echo(f"{reward}: {n} earned")
    for reason, n in sorted(report.refused.items()):
        typer.echo(f"{reason}: {n} refused")
    if not report.earned and not report.refused:
        typer.echo("nothing earned")


@rewards_app.command("earn")
@in_transaction()
def earn_cmd(
    work: Work,
    days: Annotated[
        int | None, typer.Option(help="Read completed care this many days back.")
    ] = None,
) -> Output:
    """Award what the event log says was earned (idempotent: run it as often as you like)."""
    from careloop.loyalty.catalogue import load_catalogue
    from careloop.loyalty.earning import earn_rewards

    loyalty = work.rt.settings.loyalty
    lookback = days if days is not None else loyalty.earn_lookback_days
    report = earn_rewards(
        work.session,
        catalogue=load_catalogue(loyalty.rewards_file),
        since=work.now() - timedelta(days=lookback),
        clock=work.rt.clock,
        principal=cli_principal(Role.COORDINATOR),
    )
    return Drawn(report.as_dict(), lambda: _say_earned(report))


@rewards_app.command("award")
@in_transaction()
def award_cmd(
    work: Work,
    reward: Annotated[str, typer.Argument(help="Reward id from the catalogue (e.g. referral).")],
    patient: PatientOption,
    key: Annotated[str, typer.Option("--key", help="What earned it (a referral's id ...).")],
    by: ByOption = None,
) -> Output:
    """Award a reward a person vouches for (a referral), within the caps."""
    from careloop.loyalty.catalogue import load_catalogue
    from careloop.loyalty.ledger import award

    result = award(
        work.session,
        catalogue=load_catalogue(work.rt.settings.loyalty.rewards_file),
        reward_id=reward,
        patient_id=patient,
        source_key=f"staff:{key}",
        clock=work.rt.clock,
        principal=cli_principal(Role.COORDINATOR, name=by),
    )
    out = {
        "awarded": result.entry is not None,
        "refused": str(result.refused) if result.refused else None,
        "entry": _entry(result.entry) if result.entry else None,
    }
    return Shown(out, f"awarded {reward}" if out["awarded"] else f"refused: {out['refused']}")


@rewards_app.command("fulfil")
@in_transaction()
def fulfil_cmd(
    work: Work,
    entry: Annotated[int, typer.Argument(help="Ledger entry id.")],
    reference: Annotated[
        str | None, typer.Option(help="The gift's reference (card number's last digits ...).")
    ] = None,
    by: ByOption = None,
) -> Output:
    """Record that staff handed the reward over."""
    from careloop.loyalty.ledger import Fulfilment, fulfil

    row = fulfil(
        work.session,
        entry_id=entry,
        how=Fulfilment.STAFF,
        reference=reference,
        clock=work.rt.clock,
        principal=cli_principal(Role.COORDINATOR, name=by),
    )
    out = _entry(row)
    return Shown(out, f"reward {entry}: {out['state']}")


@rewards_app.command("cancel")
@in_transaction(json=False)
def cancel_cmd(
    work: Work,
    entry: Annotated[int, typer.Argument(help="Ledger entry id.")],
    reason: Annotated[str, typer.Option(help="Why (kept on the entry).")],
    by: ByOption = None,
) -> str:
    """Cancel an earned reward (it then stops counting against the caps)."""
    from careloop.loyalty.ledger import cancel

    cancel(
        work.session,
        entry_id=entry,
        reason=reason,
        clock=work.rt.clock,
        principal=cli_principal(Role.COORDINATOR, name=by),
    )
    return f"reward {entry}: cancelled"


@rewards_app.command("list")
@in_transaction()
def list_cmd(work: Work, patient: PatientOption) -> Output:
    """One patient's rewards, newest first."""
    from careloop.loyalty.ledger import rewards_of

    rows = [_entry(e) for e in rewards_of(work.session, patient_id=patient)]
    work.audit(AuditAction.READ, "reward_entry", Purpose.OPERATIONS, patient_ids=[patient])
    columns = ("id", "reward", "value_cents", "state", "earned_at")
    return Listed(rows, line=lambda r: "\t".join(str(r[k]) for k in columns))


def register(app: typer.Typer) -> None:
    app.add_typer(rewards_app, name="rewards")
