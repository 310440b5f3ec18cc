"""The import rules hold and the architecture doc shows the rules that are enforced."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import grimp

from tests.scripts import load_script

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "careloop"
OUTSIDE_THE_LAYERS = {"migrations", "data"}  # run by Alembic by path; package data


def _doc_tool():  # type: ignore[no-untyped-def]
    return load_script(ROOT / "tools" / "architecture_doc.py", "architecture_doc")


def test_the_doc_layer_table_is_generated_from_the_contracts() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "architecture_doc.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def test_every_top_level_unit_has_a_place_in_the_layers() -> None:
    placed = {unit for row in _doc_tool().layers() for unit in row}
    units = {
        p.stem if p.suffix == ".py" else p.name
        for p in SRC.iterdir()
        if (p.suffix == ".py" and p.stem != "__init__") or (p / "__init__.py").exists()
    }
    assert units - OUTSIDE_THE_LAYERS == placed


def test_no_cycle_between_top_level_units() -> None:
    graph = grimp.build_graph("careloop")
    edges: dict[str, set[str]] = defaultdict(set)
    for module in graph.modules:
        for imported in graph.find_modules_directly_imported_by(module):
            a, b = module.split(".")[1:2], imported.split(".")[1:2]
            if a and b and a != b:
                edges[a[0]].add(b[0])

    def reaches(start: str, goal: str) -> bool:
        seen, todo = set(), [start]
        while todo:
            unit = todo.pop()
            for nxt in edges[unit] - seen:
                if nxt == goal:
                    return True
                seen.add(nxt)
                todo.append(nxt)
        return False

    cycles = sorted(a for a in list(edges) if reaches(a, a))
    assert cycles == []


def test_migrations_use_no_live_domain_code() -> None:
    # careloop.db: env.py runs plain `alembic` under the same migration lock as `careloop db`.
    allowed = {
        "careloop.models",
        "careloop.models.types",
        "careloop.crypto",
        "careloop.settings",
        "careloop.db",
        "careloop.migrations.columns",  # frozen column types beside the revisions
        "careloop.migrations.names",  # which tables the models own (autogenerate's filter)
        "careloop.migrations.ddl",  # frozen DDL helpers beside the revisions
    }
    used = set()
    for path in (SRC / "migrations").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module == "careloop.migrations":
                used |= {f"{node.module}.{a.name}" for a in node.names}  # `import ddl` from it
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("careloop"):
                used.add(node.module)
            elif isinstance(node, ast.Import):
                used |= {a.name for a in node.names if a.name.startswith("careloop")}
    assert used <= allowed


def test_no_module_over_500_lines() -> None:
    """Issue 13: a module past 500 lines holds more than one use case; split it by use case."""
    too_long = {
        str(path.relative_to(SRC)): lines
        for path in SRC.rglob("*.py")
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > 500
    }
    assert too_long == {}
