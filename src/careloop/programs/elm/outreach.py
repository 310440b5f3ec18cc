"""Outreach mode for a published measure, derived from its ELM, never written per measure.

A care-gap program wants exactly the patients the reporting logic leaves out for lack of a
visit. In the initial population's boolean structure (``and``/``or`` operands, followed
through references to boolean definitions in any library) each visit requirement is treated
as met: ``exists X`` or ``Count(X) >= n`` / ``> n`` where ``X`` reads nothing but Encounter
resources (every Retrieve reachable from it, through definitions and function bodies, is an
Encounter retrieve, or the Patient itself). Everything else (age, sex, diagnoses, exclusions,
lookbacks) is kept. Nothing under a ``not`` is touched, and a requirement that also reads
other data (an encounter *with* a diagnosis) is kept whole: dropping it would drop the
diagnosis too.

The rewritten initial population replaces the original in a copy of the package (so the
denominator, which names it, follows); a rewritten definition of another library is added
beside the original as ``<name> (outreach)``, so other expressions keep the original.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, replace
from typing import Any

from careloop.programs.elm.compiler import LibrarySource
from careloop.programs.elm.package import MeasurePackage, library_name

Node = dict[str, Any]
ENCOUNTER = "{http://hl7.org/fhir}Encounter"
PATIENT = "{http://hl7.org/fhir}Patient"
TRUE: Node = {"type": "Literal", "valueType": "{urn:hl7-org:elm-types:r1}Boolean", "value": "true"}
SUFFIX = " (outreach)"


def _defs(elm: Node, section: str) -> list[Node]:
    block = elm.get("library", {}).get(section) or {}
    return list(block.get("def") or []) if isinstance(block, dict) else []


@dataclass
class _Rewriter:
    sources: dict[str, LibrarySource]
    copies: dict[str, Node] = field(default_factory=dict)
    dropped: list[str] = field(default_factory=list)
    _reads: dict[tuple[str, str], frozenset[str]] = field(default_factory=dict)

    def elm(self, lib: str) -> Node:
        return self.copies.get(lib) or self.sources[lib].elm

    def writable(self, lib: str) -> Node:
        if lib not in self.copies:
            self.copies[lib] = copy.deepcopy(self.sources[lib].elm)
        return self.copies[lib]

    def target(self, lib: str, node: Node) -> str:
        alias = node.get("libraryName")
        if alias is None:
            return lib
        for include in _defs(self.sources[lib].elm, "includes"):
            if include.get("localIdentifier") == alias:
                return library_name(str(include["path"]))
        return lib

    def statements(self, lib: str, name: str) -> list[Node]:
        return [s for s in _defs(self.elm(lib), "statements") if s.get("name") == name]

    # -- what data an expression reads ------------------------------------------------
    def reads(self, lib: str, node: Any, seen: set[tuple[str, str]] | None = None) -> set[str]:
        """The FHIR types of every Retrieve reachable from ``node``."""
        seen = set() if seen is None else seen
        found: set[str] = set()
        if isinstance(node, list):
            for item in node:
                found |= self.reads(lib, item, seen)
            return found
        if not isinstance(node, dict):
            return found
        kind = node.get("type")
        if kind == "Retrieve":
            found.add(str(node.get("dataType")))
        if kind in ("ExpressionRef", "FunctionRef") and node.get("name"):
            where = self.target(lib, node)
            key = (where, str(node["name"]))
            if key not in seen:
                seen.add(key)
                for statement in self.statements(where, key[1]):
                    found |= self.reads(where, statement.get("expression"), seen)
        for key, value in node.items():
            if isinstance(value, dict | list) and key != "annotation":
                found |= self.reads(lib, value, seen)
        return found

    def visits_only(self, lib: str, node: Any) -> bool:
        # The Patient resource is not a requirement of its own (QICoreCommon's toInterval
        # reads the birth date to place an Age-typed timing).
        return self.reads(lib, node) - {PATIENT} == {ENCOUNTER}

    # -- the rewrite --------------------------------------------------------------------
    def relax(self, lib: str, node: Any, depth: int = 0) -> Node | None:
        """``node`` with its visit requirements met, or None when it has none."""
        if not isinstance(node, dict) or depth > 20:
            return None
        kind = node.get("type")
        if kind in ("And", "Or"):
            operands = node.get("operand") or []
            relaxed = [self.relax(lib, op, depth + 1) for op in operands]
            if all(r is None for r in relaxed):
                return None
            new = dict(node)
            new["operand"] = [
                r if r is not None else op for r, op in zip(relaxed, operands, strict=True)
            ]
            return new
        if kind == "Exists" and self.visits_only(lib, node.get("operand")):
            self.dropped.append(self.describe(lib, node.get("operand"), "exists"))
            return dict(TRUE)
        if kind in ("GreaterOrEqual", "Greater"):
            left, right = (node.get("operand") or [None, None])[:2]
            if (
                isinstance(left, dict)
                and left.get("type") == "Count"
                and isinstance(right, dict)
                and right.get("type") == "Literal"
                and self.visits_only(lib, left.get("source"))
            ):
                self.dropped.append(self.describe(lib, left.get("source"), "count of"))
                return dict(TRUE)
        if kind == "ExpressionRef" and node.get("name"):
            return self.relax_reference(lib, node, depth)
        return None

    def relax_reference(self, lib: str, node: Node, depth: int) -> Node | None:
        where = self.target(lib, node)
        name = str(node["name"])
        found = self.statements(where, name)
        if len(found) != 1:
            return None
        relaxed = self.relax(where, found[0].get("expression"), depth + 1)
        if relaxed is None:
            return None
        statements = _defs(self.writable(where), "statements")
        if not any(s.get("name") == name + SUFFIX for s in statements):
            statement = dict(found[0])
            statement["name"] = name + SUFFIX
            statement["expression"] = relaxed
            self.copies[where]["library"]["statements"]["def"].append(statement)
        return {**node, "name": name + SUFFIX}

    def describe(self, lib: str, node: Any, verb: str) -> str:
        if isinstance(node, dict) and node.get("type") == "ExpressionRef":
            where = self.target(lib, node)
            return f'{verb} {where}."{node["name"]}"'
        return f"{verb} an Encounter retrieve ({lib})"


@dataclass(frozen=True, slots=True)
class OutreachPackage:
    package: MeasurePackage
    dropped: tuple[str, ...]


def outreach_package(package: MeasurePackage, populations: list[str]) -> OutreachPackage:
    """A copy of ``package`` whose initial-population definitions treat visits as met.

    ``populations`` are the names of the initial-population definitions of the main library.
    """
    main = package.main_library
    rewriter = _Rewriter(dict(package.libraries))
    for name in dict.fromkeys(populations):
        found = rewriter.statements(main, name)
        if len(found) != 1:
            continue
        relaxed = rewriter.relax(main, found[0].get("expression"))
        if relaxed is None:
            continue
        for statement in _defs(rewriter.writable(main), "statements"):
            if statement.get("name") == name:
                statement["expression"] = relaxed
    libraries = {
        lib: replace(source, elm=rewriter.copies[lib]) if lib in rewriter.copies else source
        for lib, source in package.libraries.items()
    }
    return OutreachPackage(
        package=replace(package, libraries=libraries),
        dropped=tuple(dict.fromkeys(rewriter.dropped)),
    )
