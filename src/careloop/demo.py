"""``careloop demo``: the whole loop on the embedded default, in a few minutes.

A fresh SQLite file, the bundled sample population, and then each capability in turn. The
demo calls the same services as the API and CLI; it has no logic of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from careloop.governance.principal import Principal
from careloop.governance.roles import Role
from careloop.records.importer import import_paths
from careloop.runtime import Runtime, open_runtime

DEMO_PRINCIPAL = Principal(actor="system:demo", role=Role.ADMIN, source="demo")


def sample_population_dir() -> Path:
    """The bundled Synthea sample (20 patients) shipped as package data."""
    return Path(str(resources.files("careloop") / "data" / "synthea-sample"))


@dataclass
class DemoReport:
    """What the demo did, section by section (also printed as JSON with --json)."""

    database: str
    sections: dict[str, Any] = field(default_factory=dict)


DemoStep = Callable[[Runtime, Console, DemoReport], None]


def step_import(rt: Runtime, console: Console, report: DemoReport) -> None:
    summary = import_paths(
        rt.sessions,
        engine=rt.engine,
        paths=[sample_population_dir()],
        clock=rt.clock,
        principal=DEMO_PRINCIPAL,
        default_timezone=rt.settings.records.default_timezone,
    )
    report.sections["import"] = summary.as_dict()
    table = Table(title=f"1. Consolidate: {len(summary.patients)} patients imported")
    table.add_column("resource")
    table.add_column("count", justify="right")
    for name, count in sorted(summary.resources.items()):
        table.add_row(name, str(count))
    console.print(table)
    console.print(
        f"   {summary.files} bundles, {sum(summary.resources.values())} resources in "
        f"{summary.seconds:.1f} s; rejected: {len(summary.rejected)}"
    )


STEPS: list[DemoStep] = [step_import]


def run_demo(*, database: Path, console: Console, keep: bool = False) -> DemoReport:
    """Run every demo step against a fresh SQLite database at ``database``."""
    if not keep:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{database}{suffix}").unlink(missing_ok=True)
    rt = open_runtime(database=f"sqlite:///{database}")
    report = DemoReport(database=str(database))
    try:
        for step in STEPS:
            step(rt, console, report)
    finally:
        rt.close()
    return report
