"""``careloop rules list`` and ``careloop rules test``: read and try the clinical rules.

``rules test`` runs the same pure evaluation as the live loop on FHIR files, without a
database, so a clinical lead can check a rule change against real payloads first.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.table import Table

from careloop.cli.options import JsonOption
from careloop.cli.support import command_group, print_json, print_rows
from careloop.errors import InvalidInput
from careloop.feedback.catalog import load_catalog
from careloop.feedback.checkins import Checkin, read_checkin
from careloop.feedback.evaluate import NewInput, RecordSnapshot, evaluate
from careloop.feedback.readings import Reading, read_observation
from careloop.feedback.ruleset import load_rules
from careloop.feedback.snapshot import _condition_codes
from careloop.feedback.therapy import active_therapy
from careloop.feedback.timestamps import parse_instant

rules_app = command_group("Clinical rules (YAML): list them, try them on FHIR.")
RulesDirOption = Annotated[
    list[Path] | None, typer.Option("--rules-dir", help="Extra folder of rule YAML files.")
]


@rules_app.command("list")
def list_command(as_json: JsonOption = False, rules_dir: RulesDirOption = None) -> None:
    """The rules in force: id, kind, severity, SLA, evidence."""
    rules = load_rules(rules_dir or [])
    rows: list[dict[str, Any]] = [
        {
            "id": r.id,
            "title": r.title,
            "kind": r.kind,
            "severity": str(r.severity),
            "sla_hours": r.sla.total_seconds() / 3600,
            "program": r.program,
            "team": r.team,
            "proposes": str(r.propose.kind) if r.propose else None,
            "evidence": r.evidence,
        }
        for r in rules
    ]
    if as_json:
        print_json(rows)
        return
    table = Table("id", "kind", "severity", "SLA h", "proposes", "evidence")
    for rule in rules:
        table.add_row(
            rule.id,
            rule.kind,
            str(rule.severity),
            f"{rule.sla.total_seconds() / 3600:g}",
            str(rule.propose.kind) if rule.propose else "",
            rule.evidence[0][:60],
        )
    Console().print(table)


def _resources(path: Path) -> list[dict[str, Any]]:
    try:
        document = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        raise InvalidInput(f"{path.name}: not a readable JSON file", field=str(path)) from None
    if isinstance(document, dict) and document.get("resourceType") == "Bundle":
        return [
            e["resource"]
            for e in document.get("entry") or []
            if isinstance(e, dict) and isinstance(e.get("resource"), dict)
        ]
    if isinstance(document, dict):
        return [document]
    raise InvalidInput(f"{path.name}: expected a FHIR resource or Bundle", field=str(path))


@rules_app.command("test")
def try_rules_command(
    inputs: Annotated[
        list[Path], typer.Argument(help="Observation / QuestionnaireResponse / Bundle JSON.")
    ],
    record: Annotated[
        list[Path] | None, typer.Option("--record", help="FHIR files of the patient's history.")
    ] = None,
    now: Annotated[
        str | None, typer.Option(help="Evaluation time (ISO 8601, with zone); default: now.")
    ] = None,
    questionnaires: Annotated[
        list[Path] | None, typer.Option("--questionnaires", help="Extra Questionnaire folder.")
    ] = None,
    rules_dir: RulesDirOption = None,
    as_json: JsonOption = False,
) -> None:
    """Evaluate the rules on FHIR inputs (in order; each becomes history for the next)."""
    moment = parse_instant(now, field="--now", space_for_t=True) if now else datetime.now(UTC)
    rules = load_rules(rules_dir or [])
    catalog = load_catalog(questionnaires or [])
    history = [r for p in record or [] for r in _resources(p)]
    readings: list[Reading] = [
        x
        for r in history
        if r.get("resourceType") == "Observation"
        for x in read_observation(r, now=None)
    ]
    checkins: list[Checkin] = []
    for r in history:
        if r.get("resourceType") == "QuestionnaireResponse":
            checkins.append(read_checkin(catalog.get(str(r.get("questionnaire"))), r, now=None))
    conditions = _condition_codes([r for r in history if r.get("resourceType") == "Condition"])
    therapy = active_therapy(history, now=moment)
    out: list[dict[str, Any]] = []
    for resource in [r for p in inputs for r in _resources(p)]:
        rtype = resource.get("resourceType")
        subject = (resource.get("subject") or {}).get("reference", "Patient/unknown")
        patient = str(subject).split("/", 1)[-1]
        snapshot = RecordSnapshot(patient, tuple(readings), tuple(checkins), conditions, therapy)
        if rtype == "Observation":
            new_readings = tuple(read_observation(resource, now=moment))
            new = NewInput(
                patient, readings=new_readings, source=f"Observation/{resource.get('id')}"
            )
            readings.extend(new_readings)
        elif rtype == "QuestionnaireResponse":
            checkin = read_checkin(
                catalog.get(str(resource.get("questionnaire"))), resource, now=moment
            )
            new = NewInput(
                patient, checkin=checkin, source=f"QuestionnaireResponse/{resource.get('id')}"
            )
            checkins.append(checkin)
        else:
            continue
        for finding in evaluate(rules, snapshot=snapshot, new_input=new, now=moment):
            out.append(
                {
                    "rule": finding.rule_id,
                    "severity": str(finding.severity),
                    "sla_hours": finding.sla_hours,
                    "summary": finding.summary,
                    "source": finding.source,
                    "proposes": str(finding.proposal.kind) if finding.proposal else None,
                    "evidence": list(finding.evidence),
                }
            )
    print_rows(
        out,
        as_json=as_json,
        line=lambda item: f"{item['severity']:8} {item['rule']}: {item['summary']}",
        empty="no findings",
    )


def register(app: typer.Typer) -> None:
    app.add_typer(rules_app, name="rules")
