"""CLI: ``careloop preferences show|set`` — a patient's preference profile."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import typer

from careloop.audit import AuditAction, Purpose
from careloop.cli.command import Drawn, Output, Work, in_transaction
from careloop.cli.support import cli_principal, command_group, print_json
from careloop.errors import InvalidInput
from careloop.personalize.service import get_profile, set_stated_preferences, stated_from_options
from careloop.security.roles import Role

preferences_app = command_group("A patient's stated and learned preferences.")


PatientIdArg = Annotated[str, typer.Argument(help="The patient id.")]


@preferences_app.command("show")
@in_transaction()
def show(work: Work, patient_id: PatientIdArg) -> Output:
    """Show stated preferences and what the engine learned."""
    profile = get_profile(work.session, patient_id=patient_id)
    work.audit(
        AuditAction.READ,
        "preference-profile",
        Purpose.TREATMENT,
        patient_ids=[profile.patient_id],
        principal=cli_principal(Role.COORDINATOR),
    )
    return _profile(profile.as_dict())


@preferences_app.command("set")
@in_transaction()
def set_(
    work: Work,
    patient_id: PatientIdArg,
    channel: Annotated[str | None, typer.Option(help="sms, email, voice, portal or none.")] = None,
    window: Annotated[str | None, typer.Option(help="Send window like 17-20, or none.")] = None,
    language: Annotated[str | None, typer.Option(help="BCP-47 tag like es-US.")] = None,
    quiet_hours: Annotated[str | None, typer.Option(help="Like 21-08, or none.")] = None,
    reading_level: Annotated[str | None, typer.Option(help="basic, standard, advanced.")] = None,
    tone: Annotated[str | None, typer.Option(help="friendly or formal.")] = None,
    caregiver_as_contact: Annotated[
        bool | None,
        typer.Option("--caregiver-as-contact/--patient-as-contact", help="Who is contacted."),
    ] = None,
    actor: Annotated[str, typer.Option(help="Who made the change (for the log).")] = "cli",
) -> Output:
    """Change stated preferences (a value of 'none' clears one)."""
    changes = stated_from_options(
        channel=channel,
        window=window,
        language=language,
        quiet_hours=quiet_hours,
        reading_level=reading_level,
        tone=tone,
        caregiver_as_contact=caregiver_as_contact,
    )
    profile = set_stated_preferences(
        work.session, clock=work.rt.clock, patient_id=patient_id, changes=changes, actor=actor
    )
    work.audit(
        AuditAction.UPDATE,
        "preference-profile",
        Purpose.TREATMENT,
        patient_ids=[profile.patient_id],
        detail={"changed": sorted(changes)},
        principal=cli_principal(Role.COORDINATOR, name=None if actor == "cli" else actor),
    )
    return _profile(profile.as_dict())


def _profile(profile: dict[str, object]) -> Output:
    return Drawn(profile, lambda: _print_profile(profile))


def _print_profile(profile: dict[str, object]) -> None:
    typer.echo(f"patient {profile['patient_id']}")
    stated = profile["stated"]
    assert isinstance(stated, dict)
    for key, value in stated.items():
        typer.echo(f"  {key:22} {value if value is not None else '-'}")
    learned = profile["learned"]
    assert isinstance(learned, dict)
    for program, factors in learned.items():
        typer.echo(f"  learned in {program}:")
        for factor, values in factors.items():
            parts = [f"{v} {e['responded']}/{e['sent']}" for v, e in values.items() if e["sent"]]
            typer.echo(f"    {factor:14} {', '.join(parts) or 'no messages yet'}")


ProgramOption = Annotated[str, typer.Option("--program", help="Program whose decisions to use.")]


@in_transaction()
def ope(
    work: Work,
    program: ProgramOption,
    policy: Annotated[
        list[str] | None,
        typer.Option(
            "--policy",
            help="Repeatable: logging, uniform, greedy or FACTOR=VALUE (e.g. channel=sms).",
        ),
    ] = None,
) -> Output:
    """Off-policy estimates (IPS, self-normalized IPS) of policies from the logged decisions."""
    from careloop.personalize.evaluation import evaluate_policies

    result = evaluate_policies(
        work.session, program=program, policies=policy or ["logging", "uniform", "greedy"]
    )
    return Drawn(result, lambda: _print_estimates(program, result))


def _print_estimates(program: str, result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{program}: {result['decisions']} decisions with a resolved reward")
    for column in ("policy", "IPS (95% CI)", "SNIPS", "effective n"):
        table.add_column(column)
    for name, report in result["policies"].items():
        ips, snips = report["ips"], report["snips"]
        table.add_row(
            name,
            f"{ips['value']:.3f} ({ips['low']:.3f}, {ips['high']:.3f})",
            f"{snips['value']:.3f}",
            f"{report['effective_sample_size']:.0f}",
        )
    Console().print(table)
    if result.get("note"):
        Console().print(result["note"])


engine_app = command_group(
    "Engine configurations: compare a candidate with the running one, promote on evidence."
)
SetOption = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        help="Repeatable KEY=VALUE engine setting of the candidate, e.g. sampling_scale=0.2.",
    ),
]
MinOption = Annotated[
    int, typer.Option("--min-decisions", help="Fewest resolved decisions to judge by.")
]


def _settings(pairs: list[str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InvalidInput(f"--set wants KEY=VALUE, not {pair!r}", field="--set")
        out[key.strip()] = value.strip()
    if not out:
        raise InvalidInput("give the candidate's settings with --set KEY=VALUE", field="--set")
    return out


def _compare(
    work: Work,
    *,
    program: str,
    settings: list[str] | None,
    min_decisions: int,
    promote: bool = False,
    actor: str = "cli",
) -> _Comparison:
    """The comparison both commands run (and keep), promoting when asked."""
    from careloop.personalize.serving import compare_candidate

    result = compare_candidate(
        work.session,
        clock=work.rt.clock,
        program=program,
        settings=_settings(settings),
        min_decisions=min_decisions,
        promote=promote,
        actor=actor,
    )
    return _Comparison(result, refuse=promote and not result["promoted"])


@engine_app.command("compare")
@in_transaction()
def engine_compare(
    work: Work, program: ProgramOption, settings: SetOption = None, min_decisions: MinOption = 200
) -> Output:
    """Off-policy comparison (DR, 95 % CI, patient bootstrap) of a candidate configuration."""
    return _compare(work, program=program, settings=settings, min_decisions=min_decisions)


@engine_app.command("promote")
@in_transaction()
def engine_promote(
    work: Work,
    program: Annotated[str, typer.Option("--program", help="Program to promote it in.")],
    settings: SetOption = None,
    min_decisions: MinOption = 200,
    actor: Annotated[str, typer.Option(help="Who promotes (kept with the comparison).")] = "cli",
) -> Output:
    """Compare, and let the candidate serve only if the evidence says it is better."""
    return _compare(
        work,
        program=program,
        settings=settings,
        min_decisions=min_decisions,
        promote=True,
        actor=actor,
    )


@dataclass(frozen=True)
class _Comparison:
    """A comparison, shown; a refused promotion ends the command with its reasons instead
    (after the commit: the refused comparison stays on record and the console shows it)."""

    result: dict[str, Any]
    refuse: bool

    def show(self, *, as_json: bool) -> None:
        from careloop.personalize.serving import PromotionRefused

        if self.refuse:
            raise PromotionRefused("promotion refused: " + "; ".join(self.result["reasons"]))
        if as_json:
            print_json(self.result)
        else:
            _print_comparison(self.result)


def _print_comparison(result: dict[str, Any]) -> None:
    run, cand, diff, boot = (
        result["running"],
        result["candidate"],
        result["difference"],
        result["bootstrap"],
    )
    typer.echo(f"{result['program']}: {result['decisions']} resolved decisions")
    typer.echo(f"  running    DR {run['value']:.3f} ({run['low']:.3f}, {run['high']:.3f})")
    typer.echo(f"  candidate  DR {cand['value']:.3f} ({cand['low']:.3f}, {cand['high']:.3f})")
    typer.echo(f"  difference    {diff['value']:+.3f} ({diff['low']:+.3f}, {diff['high']:+.3f})")
    if boot:
        typer.echo(f"  better in {boot['share_better']:.1%} of patient resamples")
    verdict = (
        "promoted"
        if result["promoted"]
        else "promotable"
        if result["promotable"]
        else "not promotable"
    )
    typer.echo(f"  {verdict}" + "".join(f"\n  - {r}" for r in result["reasons"]))


def register(app: typer.Typer) -> None:
    """Attach ``preferences``, ``ope`` and ``engine`` to the root CLI."""
    app.add_typer(preferences_app, name="preferences")
    app.command("ope")(ope)
    app.add_typer(engine_app, name="engine")
