"""CLI commands of the programs domain.

- ``careloop measure evaluate``: CMS eCQM populations and care gaps per patient (contract).
- ``careloop programs list|show|validate|run``: care-gap programs.
- ``careloop segments list|members``: dynamic patient segments.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from careloop.cli.command import Document, Drawn, Listed, Output, Work, in_transaction, showing
from careloop.cli.options import DatabaseOption, JsonOption
from careloop.cli.support import command_group, print_json, print_rows, runtime
from careloop.programs.measures import service as measures

measure_app = command_group("Clinical quality measures (CMS eCQMs).")


@measure_app.command("evaluate")
def measure_evaluate(
    measure: Annotated[
        str,
        typer.Option(
            "--measure", "-m", help="CMS id (CMS125) or name (BreastCancerScreeningFHIR)."
        ),
    ],
    period: Annotated[
        str,
        typer.Option("--period", help="Measurement period START/END, e.g. 2025-01-01/2025-12-31."),
    ],
    paths: Annotated[
        list[Path] | None,
        typer.Argument(help="FHIR Bundle JSON / NDJSON files or folders; none = the database."),
    ] = None,
    outreach: Annotated[
        bool,
        typer.Option(
            "--outreach",
            help="Care-gap mode: drop the measure's qualifying-visit requirement.",
        ),
    ] = False,
    engine: Annotated[
        str,
        typer.Option(
            "--engine",
            help="auto (built-in definition, else a loaded package), definition, or elm.",
        ),
    ] = "auto",
    database: DatabaseOption = None,
    as_json: JsonOption = False,
) -> None:
    """Which populations each patient falls in, and the care gap it implies."""
    start, end = measures.parse_period(period)
    if paths and engine != "elm" and measures.is_builtin(measure):
        chosen = [measures.find_measure(measure, engine=engine)]  # no database needed
        results = measures.evaluate_paths(
            paths, measures=chosen, start=start, end=end, outreach=outreach
        )
    else:
        from careloop.programs.measures.packages import loaded_measures

        with runtime(database) as rt, rt.transaction() as session:
            loaded = loaded_measures(session)
            chosen = [measures.find_measure(measure, loaded=loaded, engine=engine)]
            if paths:
                results = measures.evaluate_paths(
                    paths, measures=chosen, start=start, end=end, outreach=outreach
                )
            else:
                results = list(
                    measures.evaluate_database(
                        session, measures=chosen, start=start, end=end, outreach=outreach
                    )
                )
    if as_json:
        print_json(results)
        return
    if any(r.get("test_deck") for r in results):
        typer.echo(
            "note: test-deck semantics applied (a bundle with one Patient is that patient's "
            "whole record; see docs/measures.md)",
            err=True,
        )
    for result in results:
        flags = " ".join(
            f"{code}={value}" for group in result["groups"] for code, value in group.items()
        )
        gap = "GAP" if result["care_gap"] else "ok "
        typer.echo(
            f"{result['patient']}  {result['measure']}  {gap}  {result['reason']}  [{flags}]"
        )


@measure_app.command("load")
@in_transaction()
def measure_load(
    work: Work,
    paths: Annotated[
        list[Path],
        typer.Argument(
            help="Measure package: FHIR Bundles or folders of Measure/Library/ValueSet."
        ),
    ],
) -> Output:
    """Store published measure packages; their measures become available by CMS id and name."""
    from careloop.programs.measures.packages import load_packages

    loaded = [p.as_dict() for p in load_packages(work.session, paths, now=work.now())]
    return Drawn(loaded, lambda: _print_loaded(loaded))


def _print_loaded(loaded: list[dict[str, Any]]) -> None:
    for item in loaded:
        basis = "/".join(item["population_basis"])
        typer.echo(
            f"loaded {item['cms_id'] or '-'}  {item['name']} {item['version'] or ''}  "
            f"groups={item['groups']} ({basis})  libraries={len(item['libraries'])}  "
            f"valuesets={item['valuesets']}"
        )


programs_app = command_group("Care-gap programs: who is due for which call to action.")
segments_app = command_group("Dynamic patient segments over the record and the event log.")

ProgramsDirOption = Annotated[
    Path | None,
    typer.Option(
        "--programs-dir",
        envvar="CARELOOP_PROGRAMS_DIR",
        help="A folder of program YAML files to use instead of the shipped library.",
        show_envvar=True,
    ),
]
SegmentsDirOption = Annotated[
    Path | None,
    typer.Option(
        "--segments-dir",
        envvar="CARELOOP_SEGMENTS_DIR",
        help="A folder of segment YAML files to use instead of the shipped ones.",
        show_envvar=True,
    ),
]


@programs_app.command("list")
@showing()
def programs_list(programs_dir: ProgramsDirOption = None) -> Output:
    """The programs available, with their call to action."""
    from careloop.programs import views
    from careloop.programs.definition import load_programs

    summaries = [views.program_summary(p) for p in load_programs(programs_dir).values()]
    return Listed(
        summaries,
        line=lambda p: f"{p['name']:<30} {p['eligibility']:<24} {p['call_to_action']}",
    )


@programs_app.command("show")
@showing(json=False)
def programs_show(
    name: Annotated[str, typer.Argument(help="Program name, e.g. breast-cancer-screening.")],
    programs_dir: ProgramsDirOption = None,
) -> Output:
    """A program's full definition (as JSON)."""
    from careloop.programs import views
    from careloop.programs.definition import find_program

    return Document(views.program_detail(find_program(name, folder=programs_dir)))


@programs_app.command("validate")
def programs_validate(
    paths: Annotated[list[Path], typer.Argument(help="Program YAML files to check.")],
    segments_dir: SegmentsDirOption = None,
) -> None:
    """Check program files: schema, criteria, value sets, message ids and segment names."""
    from careloop.programs.views import validate_program_file

    for path in paths:
        program = validate_program_file(path, segments_dir=segments_dir)
        typer.echo(f"ok: {path} ({program.name}: {program.definition.title})")


def _print_run(result: dict[str, Any]) -> None:
    typer.echo(
        f"{result['program']}  window {result['window']}  evaluated {result['evaluated']}  "
        f"eligible {result['eligible_count']}  new events {result['events_recorded']}"
    )
    if result["note"]:
        typer.echo(f"note: {result['note']}")
    for item in result["eligible"]:
        typer.echo(f"  {item['patient']}  {item['reason']}")
    for name, count in result["excluded"].items():
        typer.echo(f"  excluded ({name}): {count}")


@programs_app.command("run")
@in_transaction()
def programs_run(
    work: Work,
    program: Annotated[str, typer.Option("--program", "-p", help="Program name.")],
    period: Annotated[
        str | None,
        typer.Option("--period", help="Measurement period START/END, e.g. 2020-01-01/2020-12-31."),
    ] = None,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Evaluate as of this ISO date (default today).")
    ] = None,
    programs_dir: ProgramsDirOption = None,
    segments_dir: SegmentsDirOption = None,
) -> Output:
    """List the eligible patients with their reason and record ``eligible`` events."""
    from careloop.audit import AuditAction, Purpose
    from careloop.programs.definition import find_program
    from careloop.programs.service import run_program
    from careloop.programs.windows import parse_as_of
    from careloop.security.principal import CLI_OPERATOR

    chosen = find_program(program, folder=programs_dir)
    run = run_program(
        work.session,
        program=chosen,
        now=work.now(),
        period=period,
        as_of=parse_as_of(as_of) if as_of is not None else None,
        actor=CLI_OPERATOR.actor,
        segments_dir=segments_dir,
    )
    result = run.as_json()
    work.audit(
        AuditAction.CREATE, f"program:{chosen.name}:eligible", Purpose.OUTREACH,
        patient_ids=[e.patient_id for e in run.eligible] or [None],
        detail={"period": run.window.key, "evaluated": run.evaluated},
        principal=CLI_OPERATOR,
    )  # fmt: skip
    return Drawn(result, lambda: _print_run(result))


@segments_app.command("list")
def segments_list(
    counts: Annotated[
        bool, typer.Option("--counts", help="Count each segment's members (needs a database).")
    ] = False,
    segments_dir: SegmentsDirOption = None,
    database: DatabaseOption = None,
    as_json: JsonOption = False,
) -> None:
    """The segments defined, by dimension (and, with --counts, their size)."""
    from careloop.programs import views
    from careloop.programs.segments.definition import load_segments
    from careloop.programs.segments.service import segment_counts

    items = [views.segment_summary(s) for s in load_segments(segments_dir).values()]
    if counts:
        with runtime(database) as rt, rt.transaction() as session:
            sizes = segment_counts(session, now=rt.clock.now(), folder=segments_dir)
        for item in items:
            item["members"] = sizes[item["name"]]
    print_rows(
        items,
        as_json=as_json,
        line=lambda s: f"{s['name']:<24} {s['dimension']:<12} "
        + (f"{s['members']:>7}  " if counts else "")
        + f"{s['title']}",
    )


@segments_app.command("members")
@in_transaction()
def segments_members(
    work: Work,
    name: Annotated[str, typer.Argument(help="Segment name, e.g. age-65-plus.")],
    segments_dir: SegmentsDirOption = None,
) -> Output:
    """The ids of the patients in a segment now."""
    from careloop.audit import AuditAction, Purpose
    from careloop.programs.segments.service import segment_members
    from careloop.security.principal import CLI_OPERATOR

    members = segment_members(work.session, name=name, now=work.now(), folder=segments_dir)
    work.audit(
        AuditAction.READ, f"segment:{name}:members", Purpose.OPERATIONS,
        patient_ids=members or [None], principal=CLI_OPERATOR,
    )  # fmt: skip
    return Drawn(
        {"segment": name, "count": len(members), "members": members},
        lambda: _print_ids(members),
    )


def _print_ids(ids: list[str]) -> None:
    for pid in ids:
        typer.echo(pid)


def register(app: typer.Typer) -> None:
    """Attach the programs-domain commands (``measure``, ``programs``, ``segments``)."""
    app.add_typer(measure_app, name="measure")
    app.add_typer(programs_app, name="programs")
    app.add_typer(segments_app, name="segments")
