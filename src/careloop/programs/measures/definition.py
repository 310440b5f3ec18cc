"""Load the YAML measure definitions in ``definitions/`` and compile them once per process."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from careloop.errors import InvalidInput
from careloop.programs.elm.measure import POPULATION_CODES
from careloop.programs.measures.criteria import Library, Predicate, compile_criterion
from careloop.programs.measures.custom import PYTHON_CRITERIA
from careloop.programs.measures.timing import compile_anchor
from careloop.programs.measures.valuesets import CodeSet, valueset

DEFINITION_DIR = Path(__file__).with_name("definitions")


@dataclass(frozen=True, slots=True)
class Group:
    """One Measure.group: population code -> predicate, in the Measure's order."""

    populations: dict[str, Predicate]
    exclusion_labels: list[tuple[str, Predicate]]
    exception_labels: list[tuple[str, Predicate]]


@dataclass(frozen=True, slots=True)
class Measure:
    cms_id: str
    name: str
    title: str
    groups: list[Group]
    care_gap: dict[str, Any]
    library: Library
    anchors: dict[str, Any] = field(default_factory=dict)


def _codes(spec: dict[str, Any]) -> dict[str, CodeSet]:
    systems = spec.get("codesystems") or {}
    codes: dict[str, CodeSet] = {}
    for name, text in (spec.get("codes") or {}).items():
        alias, _, code = str(text).partition("|")
        if alias not in systems or not code:
            raise InvalidInput(f"code {name!r} must be ALIAS|code", field="definition")
        codes[str(name)] = frozenset({(systems[alias], code)})
    return codes


def _library(spec: dict[str, Any], name: str, parent: Library | None) -> Library:
    return Library(
        name=name,
        valuesets={str(k): valueset(str(v)) for k, v in (spec.get("valuesets") or {}).items()},
        codes=_codes(spec),
        definitions=dict(spec.get("define") or {}),
        python=PYTHON_CRITERIA,
        parent=parent,
    )


def _read(path: Path) -> dict[str, Any]:
    loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(loaded, dict):
        raise InvalidInput(f"{path.name} is not a mapping", field="definition")
    return loaded


def _labels(body: Any, lib: Library) -> list[tuple[str, Predicate]]:
    """Labelled alternatives of an ``any`` definition, for a readable exclusion reason."""
    if isinstance(body, dict) and "ref" in body:
        body = lib.definitions.get(str(body["ref"]), body)
    if not (isinstance(body, dict) and "any" in body):
        return []
    return [
        (str(item["label"]), compile_criterion(item, lib))
        for item in body["any"]
        if isinstance(item, dict) and "label" in item
    ]


def _measure(spec: dict[str, Any], common: Library) -> Measure:
    cms_id = str(spec["cms"])
    lib = _library(spec, cms_id, common)
    groups = []
    for group in spec["groups"]:
        populations = group["populations"]
        unknown = set(populations) - set(POPULATION_CODES)
        if unknown:
            raise InvalidInput(f"{cms_id}: unknown populations {sorted(unknown)}", field="groups")
        groups.append(
            Group(
                populations={
                    code: compile_criterion(body, lib) for code, body in populations.items()
                },
                exclusion_labels=_labels(populations.get("denominator-exclusion"), lib),
                exception_labels=_labels(populations.get("denominator-exception"), lib),
            )
        )
    for name in lib.definitions:
        lib.predicate(name)  # compile everything now: a bad definition fails at load
    care_gap = dict(spec.get("care_gap") or {})
    anchors = {
        key: compile_anchor(value)
        for key, value in care_gap.items()
        if key not in ("when", "reason", "met", "group", "python_reason", "population")
    }
    return Measure(
        cms_id=cms_id,
        name=str(spec["measure"]),
        title=str(spec.get("title", spec["measure"])),
        groups=groups,
        care_gap=care_gap,
        library=lib,
        anchors=anchors,
    )


@lru_cache(maxsize=1)
def all_measures() -> tuple[Measure, ...]:
    """Every shipped measure, compiled (value sets resolved, criteria turned into closures)."""
    common = _library(_read(DEFINITION_DIR / "common.yaml"), "common", None)
    for name in common.definitions:
        common.predicate(name)
    measures = []
    for path in sorted(DEFINITION_DIR.glob("CMS*.yaml")):
        measures.append(_measure(_read(path), common))
    return tuple(sorted(measures, key=lambda m: int(m.cms_id[3:])))


def find_measure(identifier: str) -> Measure:
    """A measure by CMS id (``CMS125``, ``CMS125FHIR``, ``cms125``) or name."""
    wanted = identifier.strip().lower()
    if wanted.endswith("fhir") and wanted.startswith("cms"):
        wanted = wanted[: -len("fhir")]
    for measure in all_measures():
        if wanted in (measure.cms_id.lower(), measure.name.lower()):
            return measure
    known = ", ".join(m.cms_id for m in all_measures())
    raise InvalidInput(f"unknown measure {identifier!r} (known: {known})", field="measure")
