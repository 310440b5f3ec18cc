"""CLI of digital tools: ``careloop tools list|prescribe|usage|follow-up`` (docs/retention.md)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from careloop.audit import AuditAction, Purpose
from careloop.cli.options import ByOption, DatabaseOption, JsonOption, PatientOption
from careloop.cli.support import (
    audit_cli,
    cli_principal,
    command_group,
    emit,
    emit_tally,
    print_rows,
)
from careloop.cli.support import runtime as open_cli_runtime
from careloop.security.roles import Role

tools_app = command_group(
    "Digital tools (apps, devices, coaching, classes): prescribe and follow them."
)


@tools_app.command("list")
def list_cmd(
    need: Annotated[str | None, typer.Option(help="Only tools serving this need.")] = None,
    as_json: JsonOption = False,
) -> None:
    """The catalogue: each tool, its kind and the needs it serves."""
    from careloop.digitaltools.catalogue import load_tools

    tools = load_tools().tools if need is None else load_tools().for_needs({need})
    rows = [{"id": t.id, "kind": str(t.kind), "title": t.title, "needs": t.needs} for t in tools]
    print_rows(
        rows,
        as_json=as_json,
        line=lambda r: f"{r['id']}\t{r['kind']}\t{', '.join(r['needs'])}\t{r['title']}",
    )


@tools_app.command("prescribe")
def prescribe_cmd(
    tool: Annotated[str, typer.Argument(help="Tool id from the catalogue.")],
    patient: PatientOption,
    database: DatabaseOption = None,
    by: ByOption = None,
    as_json: JsonOption = False,
) -> None:
    """Add the tool to the patient's care plan and send them its link."""
    from careloop.digitaltools.catalogue import load_tools
    from careloop.digitaltools.service import prescribe

    with open_cli_runtime(database) as rt, rt.transaction() as session:
        done = prescribe(
            session, catalogue=load_tools(), patient_id=patient, tool_id=tool, clock=rt.clock,
            principal=cli_principal(Role.CLINICIAN, name=by), settings=rt.settings,
        )  # fmt: skip
        out: dict[str, Any] = {
            "careplan": done.careplan_id,
            "tool": done.tool,
            "message_queued": done.message_queued,
        }
    emit(out, as_json=as_json, text=f"prescribed {tool} ({done.careplan_id})")


@tools_app.command("usage")
def usage_cmd(
    patient: PatientOption,
    database: DatabaseOption = None,
    as_json: JsonOption = False,
) -> None:
    """The patient's tools and how many readings each sent since it was prescribed."""
    from careloop.digitaltools.catalogue import load_tools
    from careloop.digitaltools.service import tool_usage

    with open_cli_runtime(database) as rt, rt.transaction() as session:
        rows = tool_usage(session, catalogue=load_tools(), patient_id=patient)
        audit_cli(
            session, rt, AuditAction.READ, "CarePlan", Purpose.TREATMENT, patient_ids=[patient]
        )
    print_rows(
        rows,
        as_json=as_json,
        line=lambda r: f"{r['tool']}\t{r['prescribed_at']:%Y-%m-%d}\t{r['readings']} readings",
    )


@tools_app.command("follow-up")
def follow_up_cmd(database: DatabaseOption = None, as_json: JsonOption = False) -> None:
    """Run the "not improved after N weeks" rule on every active tool (idempotent)."""
    from careloop.digitaltools.catalogue import load_tools
    from careloop.digitaltools.service import follow_up_tools

    with open_cli_runtime(database) as rt, rt.transaction() as session:
        tally = follow_up_tools(
            session, catalogue=load_tools(), clock=rt.clock, settings=rt.settings,
            principal=cli_principal(Role.CLINICIAN),
        )  # fmt: skip
    emit_tally(tally, as_json=as_json, empty="no active tools")


def register(app: typer.Typer) -> None:
    app.add_typer(tools_app, name="tools")
