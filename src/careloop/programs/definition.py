"""Read program files, validate them, and compile their criteria once per process.

Programs ship in ``programs/library/*.yaml``; a site points ``--programs-dir`` (or
``CARELOOP_PROGRAMS_DIR``) at its own folder instead. A bad file fails with an error naming
the file and the field, never a traceback.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from careloop.errors import InvalidInput
from careloop.programs.expressions import ProgramLibrary, reason_fields
from careloop.programs.lookup import find_by_name
from careloop.programs.measures.criteria import Predicate, Retrieve
from careloop.programs.measures.definition import Measure, find_measure
from careloop.programs.measures.service import ALWAYS_LOADED, is_builtin, retrieval_codes
from careloop.programs.measures.timing import compile_anchor
from careloop.programs.schema import ExpressionEligibility, MeasureEligibility, ProgramDefinition

LIBRARY_DIR = Path(__file__).with_name("library")
BUILTIN_REASON_FIELDS = frozenset({"window_start", "window_end", "as_of"})
_CODE_KEYS = frozenset({"valueset", "code"})


@dataclass(frozen=True, slots=True)
class CompiledGap:
    id: str
    reason: str
    when: Predicate
    readings: tuple[str, ...]


@dataclass(frozen=True)
class Program:
    """A validated program with its criteria compiled into predicates."""

    definition: ProgramDefinition
    source: Path
    library: ProgramLibrary
    measure: Measure | None = None
    # A measure that is not built in: a loaded package, found by name when the program runs.
    package: str | None = None
    population: Predicate | None = None
    gaps: tuple[CompiledGap, ...] = ()
    dates: dict[str, Any] = field(default_factory=dict)
    completion: tuple[Retrieve, ...] = ()
    load_codes: frozenset[str] | None = frozenset()  # None: every resource
    always_types: tuple[str, ...] = ALWAYS_LOADED

    @property
    def name(self) -> str:
        return self.definition.name


def parse_definition(data: Any, *, source: str) -> ProgramDefinition:
    """Validate a program mapping; the error names the first bad field."""
    if not isinstance(data, dict):
        raise InvalidInput(f"{source}: a program file must be a mapping", field="program")
    try:
        return ProgramDefinition.model_validate(data)
    except ValidationError as exc:
        raise InvalidInput.from_validation(exc, source=source, whole="program") from None


def read_program(path: Path) -> Program:
    """Read, validate and compile one program file."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror}", field="path") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise InvalidInput(f"{path.name}:{where} is not valid YAML", field="program") from None
    definition = parse_definition(data, source=path.name)
    if definition.name != path.stem:
        raise InvalidInput(
            f"{path.name}: name {definition.name!r} must match the file name", field="name"
        )
    try:
        return compile_program(definition, source=path)
    except InvalidInput as exc:
        raise InvalidInput(f"{path.name}: {exc}", field=exc.field) from None


def code_less_types(node: Any) -> Iterator[str]:
    """Resource types a criterion retrieves without a code (they must always be loaded)."""
    if isinstance(node, dict):
        if "resource" in node and not (_CODE_KEYS & set(node)):
            yield str(node["resource"])
        for value in node.values():
            yield from code_less_types(value)
    elif isinstance(node, list):
        for item in node:
            yield from code_less_types(item)


def _in_field(where: str, build: Any, *args: Any) -> Any:
    try:
        return build(*args)
    except InvalidInput as exc:
        raise InvalidInput(f"{where}: {exc}", field=where) from None
    except KeyError as exc:
        raise InvalidInput(f"{where}: missing key {exc}", field=where) from None
    except (TypeError, ValueError, AttributeError) as exc:
        raise InvalidInput(f"{where}: {exc}", field=where) from None


def compile_program(definition: ProgramDefinition, *, source: Path) -> Program:
    library = _in_field(
        "valuesets",
        lambda: ProgramLibrary(
            name=definition.name,
            valuesets=definition.valuesets,
            codes=definition.codes,
            define=definition.define,
        ),
    )
    for name in definition.define:
        _in_field(f"define.{name}", library.predicate, name)
    completion = tuple(
        _in_field(f"completion.any_of.{i}", library.compile_retrieve, spec)
        for i, spec in enumerate(definition.completion.any_of)
    )
    eligibility = definition.eligibility
    measure: Measure | None = None
    package: str | None = None
    population: Predicate | None = None
    gaps: list[CompiledGap] = []
    dates: dict[str, Any] = {}
    if isinstance(eligibility, MeasureEligibility):
        if is_builtin(eligibility.measure):
            measure = find_measure(eligibility.measure)
        else:  # a published package (careloop measure load), checked when the program runs
            package = eligibility.measure.strip()
    else:
        assert isinstance(eligibility, ExpressionEligibility)
        if eligibility.population is not None:
            population = _in_field(
                "eligibility.population", library.compile, eligibility.population
            )
        dates = {
            name: _in_field(f"eligibility.dates.{name}", compile_anchor, anchor)
            for name, anchor in eligibility.dates.items()
        }
        predicates = [
            _in_field(f"eligibility.gaps.{i}.when", library.compile, spec.when)
            for i, spec in enumerate(eligibility.gaps)
        ]
        known = BUILTIN_REASON_FIELDS | set(dates) | set(library.readings)
        for i, (spec, predicate) in enumerate(zip(eligibility.gaps, predicates, strict=True)):
            used = reason_fields(spec.reason, readings=set(library.readings))
            unknown = sorted(used - known)
            if unknown:
                raise InvalidInput(
                    f"eligibility.gaps.{i}.reason: unknown names {unknown} "
                    f"(known: {sorted(known)})",
                    field=f"eligibility.gaps.{i}.reason",
                )
            readings = tuple(sorted(used & set(library.readings)))
            gaps.append(CompiledGap(spec.id, spec.reason, predicate, readings))
    codes: frozenset[str] | None = library.all_codes() | (
        retrieval_codes([measure]) if measure else frozenset()
    )
    if package is not None:
        codes = None  # the published logic may read any resource
    specs: list[Any] = [definition.define, definition.completion.any_of]
    if isinstance(eligibility, ExpressionEligibility):
        specs += [eligibility.population, [g.when for g in eligibility.gaps]]
    # The measures read some types without a code (qualifying visits); program criteria
    # name every code they retrieve by, except the types found above.
    base = ALWAYS_LOADED if measure is not None or package else ("Patient",)
    always = tuple(dict.fromkeys((*base, *code_less_types(specs))))
    return Program(
        definition=definition,
        source=source,
        library=library,
        measure=measure,
        package=package,
        population=population,
        gaps=tuple(gaps),
        dates=dates,
        completion=completion,
        load_codes=codes,
        always_types=always,
    )


@lru_cache(maxsize=8)
def _load_folder(folder: Path) -> dict[str, Program]:
    if not folder.is_dir():
        raise InvalidInput(f"no program folder at {folder}", field="programs_dir")
    programs: dict[str, Program] = {}
    for path in sorted(folder.glob("*.yaml")):
        program = read_program(path)
        programs[program.name] = program
    return programs


def load_programs(folder: Path | None = None) -> dict[str, Program]:
    """Every program of a folder (the shipped library by default), by name."""
    return dict(_load_folder((folder or LIBRARY_DIR).resolve()))


def find_program(name: str, *, folder: Path | None = None) -> Program:
    return find_by_name(load_programs(folder), name, field="program")
