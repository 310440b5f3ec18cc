"""CLI of digital tools: ``careloop tools list|prescribe|usage|follow-up`` (docs/retention.md)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from careloop.audit import AuditAction, Purpose
from careloop.cli.command import Listed, Output, Shown, Tally, Work, in_transaction, showing
from careloop.cli.options import ByOption, PatientOption
from careloop.cli.support import cli_principal, command_group
from careloop.security.roles import Role

tools_app = command_group(
    "Digital tools (apps, devices, coaching, classes): prescribe and follow them."
)


@tools_app.command("list")
@showing()
def list_cmd(
    need: Annotated[str | None, typer.Option(help="Only tools serving this need.")] = None,
) -> Output:
    """The catalogue: each tool, its kind and the needs it serves."""
    from careloop.digitaltools.catalogue import load_tools

    tools = load_tools().tools if need is None else load_tools().for_needs({need})
    rows = [{"id": t.id, "kind": str(t.kind), "title": t.title, "needs": t.needs} for t in tools]
    return Listed(
        rows, line=lambda r: f"{r['id']}\t{r['kind']}\t{', '.join(r['needs'])}\t{r['title']}"
    )


@tools_app.command("prescribe")
@in_transaction()
def prescribe_cmd(
    work: Work,
    tool: Annotated[str, typer.Argument(help="Tool id from the catalogue.")],
    patient: PatientOption,
    by: ByOption = None,
) -> Output:
    """Add the tool to the patient's care plan and send them its link."""
    from careloop.digitaltools.catalogue import load_tools
    from careloop.digitaltools.service import prescribe

    done = prescribe(
        work.session, catalogue=load_tools(), patient_id=patient, tool_id=tool,
        clock=work.rt.clock, principal=cli_principal(Role.CLINICIAN, name=by),
        settings=work.rt.settings,
    )  # fmt: skip
    out: dict[str, Any] = {
        "careplan": done.careplan_id,
        "tool": done.tool,
        "message_queued": done.message_queued,
    }
    return Shown(out, f"prescribed {tool} ({done.careplan_id})")


@tools_app.command("usage")
@in_transaction()
def usage_cmd(work: Work, patient: PatientOption) -> Output:
    """The patient's tools and how many readings each sent since it was prescribed."""
    from careloop.digitaltools.catalogue import load_tools
    from careloop.digitaltools.service import tool_usage

    rows = tool_usage(work.session, catalogue=load_tools(), patient_id=patient)
    work.audit(AuditAction.READ, "CarePlan", Purpose.TREATMENT, patient_ids=[patient])
    return Listed(
        rows, line=lambda r: f"{r['tool']}\t{r['prescribed_at']:%Y-%m-%d}\t{r['readings']} readings"
    )


@tools_app.command("follow-up")
@in_transaction()
def follow_up_cmd(work: Work) -> Output:
    """Run the "not improved after N weeks" rule on every active tool (idempotent)."""
    from careloop.digitaltools.catalogue import load_tools
    from careloop.digitaltools.service import follow_up_tools

    tally = follow_up_tools(
        work.session, catalogue=load_tools(), clock=work.rt.clock, settings=work.rt.settings,
        principal=cli_principal(Role.CLINICIAN),
    )  # fmt: skip
    return Tally(tally, empty="no active tools")


def register(app: typer.Typer) -> None:
    app.add_typer(tools_app, name="tools")
