"""Write src/careloop/records/fhir_bindings.json: FHIR R4's required code bindings.

    python tools/fhir_bindings.py          # rewrite the table
    python tools/fhir_bindings.py --check  # exit 1 when it and the published definitions differ
    python tools/fhir_bindings.py --source DIR   # read the definitions from DIR instead

The source is the FHIR R4 (4.0.1) StructureDefinitions and ValueSets as the npm package
``fhir`` (FHIR.js, lantanagroup, ISC licence) publishes them, parsed and with each value set
expanded: ``profiles/types.json`` (every element with its binding strength and value set)
and ``profiles/valuesets.json`` (the expansions). fhir.resources' models carry no complete
code lists (their ``enum_values`` come from the short titles, ``registered | ... +``), hence
this second source. The package is fetched once with ``npm pack`` (pinned version and
digest) into ~/.cache/careloop; careloop itself never downloads anything: it reads the table.

The table keeps, for each model of ``fhir_structure.json`` (the models the import checks),
the elements bound *required* to a value set that can be listed, and those value sets' codes
per system. A required binding to a value set that cannot be listed (MIME types, languages,
currencies: whole external code systems) is not checked; ``unlisted`` names them.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
STRUCTURE = ROOT / "src" / "careloop" / "records" / "fhir_structure.json"
BINDINGS = ROOT / "src" / "careloop" / "records" / "fhir_bindings.json"
PACKAGE = "fhir@4.12.0"
PACKAGE_SHA256 = "24050342e144204baa2abb34e6c7fb1c5e9c879944583edb5fc146973beeccfe"
CACHE = Path.home() / ".cache" / "careloop" / "fhir-js-4.12.0"
# The kinds of element a required binding is checked on (no required Coding in R4 core).
CHECKED = {"code": "code", "CodeableConcept": "CodeableConcept", "Coding": "Coding"}


def fetch_source() -> Path:
    """The package's ``profiles`` folder, fetched once with npm and checked by digest."""
    profiles = CACHE / "package" / "profiles"
    if (profiles / "types.json").exists():
        return profiles
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit(f"npm is not installed (needed once, to fetch {PACKAGE})")
    with tempfile.TemporaryDirectory(prefix="careloop-fhir-js-") as scratch:
        subprocess.run(  # noqa: S603 - a pinned package name, no shell
            [npm, "pack", "--silent", PACKAGE], cwd=scratch, check=True, capture_output=True
        )
        [tarball] = Path(scratch).glob("*.tgz")
        digest = hashlib.sha256(tarball.read_bytes()).hexdigest()
        if digest != PACKAGE_SHA256:
            raise SystemExit(f"{PACKAGE}: sha256 {digest} is not the pinned {PACKAGE_SHA256}")
        CACHE.mkdir(parents=True, exist_ok=True)
        with tarfile.open(tarball) as archive:
            members = [m for m in archive.getmembers() if m.name.startswith("package/profiles/")]
            archive.extractall(CACHE, members=members, filter="data")
    return profiles


def _by_name(properties: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {p["_name"]: p for p in properties}


def _resolve(types: dict[str, Any], reference: str) -> list[dict[str, Any]]:
    """The properties of a content reference such as ``#Questionnaire.item``."""
    first, *rest = reference.lstrip("#").split(".")
    properties: list[dict[str, Any]] = types[first]["_properties"]
    for name in rest:
        properties = _by_name(properties)[name]["_properties"]
    return properties


def _properties_of(types: dict[str, Any], element: dict[str, Any]) -> list[dict[str, Any]]:
    kind = element["_type"]
    if kind.startswith("#"):
        return _resolve(types, kind)
    if kind == "BackboneElement" or (kind == "Element" and element.get("_properties")):
        return list(element["_properties"])
    return list(types.get(kind, {}).get("_properties", []))


def build(source: Path) -> dict[str, Any]:
    types = json.loads((source / "types.json").read_text())
    value_sets = json.loads((source / "valuesets.json").read_text())
    models = json.loads(STRUCTURE.read_text())["models"]
    bound: dict[str, dict[str, list[str]]] = {}
    used: dict[str, dict[str, list[str]]] = {}
    unlisted: set[str] = set()
    visited: set[str] = set()

    def walk(model_name: str, properties: list[dict[str, Any]]) -> None:
        table = _by_name(properties)
        fields: dict[str, list[str]] = {}
        for field, spec in models[model_name]["fields"].items():
            element = table.get(field)
            if element is None:
                continue  # an R4B element R4 does not have: left to the models
            target = spec.lstrip("[")
            if target.startswith("@") and target[1:] not in visited:
                visited.add(target[1:])
                walk(target[1:], _properties_of(types, element))
            kind = CHECKED.get(element["_type"])
            if element.get("_valueSetStrength") != "required" or kind is None:
                continue
            url = element["_valueSet"].split("|")[0]
            listed = value_sets.get(url)
            if not listed or not all(system["codes"] for system in listed["systems"]):
                unlisted.add(f"{model_name}.{field} ({url})")
                continue
            used[url] = {s["uri"]: [c["code"] for c in s["codes"]] for s in listed["systems"]}
            fields[field] = [kind, url]
        if fields:
            bound[model_name] = fields

    for name, model in sorted(models.items()):
        if model["resource"] is not None:
            visited.add(name)
            walk(name, types[model["resource"]]["_properties"])
    return {
        "source": f"npm {PACKAGE} profiles/types.json + valuesets.json (FHIR R4 4.0.1)",
        "models": dict(sorted(bound.items())),
        "value_sets": dict(sorted(used.items())),
        "unlisted": sorted(unlisted),
    }


def render(source: Path) -> str:
    return json.dumps(build(source), indent=1, sort_keys=True) + "\n"


def main(argv: list[str]) -> int:
    source = Path(argv[argv.index("--source") + 1]) if "--source" in argv else fetch_source()
    text = render(source)
    if "--check" in argv:
        if not BINDINGS.exists() or BINDINGS.read_text() != text:
            sys.stderr.write(f"{BINDINGS} is out of date: run python tools/fhir_bindings.py\n")
            return 1
        return 0
    BINDINGS.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
