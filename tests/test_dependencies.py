"""Every runtime dependency declared in pyproject is used by careloop (issue 13)."""

from __future__ import annotations

import re
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "careloop"

# Needed at run time without an import statement of ours, and why.
USED_WITHOUT_IMPORT = {
    "tzdata": "zoneinfo's time zone database on machines without one",
    "python-multipart": "FastAPI parses the portal's and console's HTML forms with it",
    "psycopg-pool": "procrastinate's PsycopgConnector pools its connections with it (pinned)",
    "uvloop": "uvicorn runs careloop serve's event loop on it when installed (faster intake)",
    "httptools": "uvicorn parses HTTP with it when installed (less CPU per request than h11)",
}


def _declared(extra: str | None = None) -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    specs = project["optional-dependencies"][extra] if extra else project["dependencies"]
    return {re.split(r"[\[=<>~ ]", spec, maxsplit=1)[0].lower() for spec in specs}


def _imported_distributions() -> set[str]:
    tops: set[str] = set()
    for path in SRC.rglob("*.py"):
        for match in re.finditer(
            r"^\s*(?:from|import)\s+([A-Za-z_]\w*)", path.read_text(), flags=re.MULTILINE
        ):
            tops.add(match.group(1))
    owners = packages_distributions()
    return {dist.lower() for top in tops for dist in owners.get(top, [])}


def test_every_runtime_dependency_is_imported_by_careloop() -> None:
    unused = _declared() - _imported_distributions() - set(USED_WITHOUT_IMPORT)
    assert unused == set()


def test_test_only_libraries_are_in_the_test_extra() -> None:
    # httpx is a runtime dependency again: the Bulk Data client (careloop import --from-fhir)
    # speaks HTTP with it. The SMART on FHIR client is only the tests' real FHIR client.
    assert "fhirclient" not in _declared()
    assert "fhirclient" in _declared("test")
    assert not {"fhirpathpy", "itsdangerous"} & (_declared() | _declared("test"))
