"""FHIR R4's required code bindings: a code outside its value set is refused, by field.

``fhir.resources``' models check a ``code`` only for its shape, so ``"status": "bogus"``
passed them. The table beside this module (``fhir_bindings.json``, written by
``tools/fhir_bindings.py`` from the published R4 definitions, never fetched at run time)
names per model of ``fhir_structure.json`` the elements bound *required* and each value
set's codes. :func:`bound_check` gives the compiled check of ``records.fhir_check`` a set
lookup on such a field, which it reads anyway (no second walk of the resource);
:func:`binding_problem` walks a resource the check refused and the models accepted, to
name the field.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

Check = Callable[[Any], bool]

BINDINGS = Path(__file__).with_name("fhir_bindings.json")
_STRUCTURE = Path(__file__).with_name("fhir_structure.json")
# A value shown back in a message only when it looks like a code (a letter first, no spaces,
# no "@"): a code is no patient data, but a phone number or an address in the wrong field is.
_SHOWABLE = re.compile(r"[A-Za-z][A-Za-z0-9._\-]{0,39}")
_LISTED = 12
"""Value sets up to this size are listed in the message; larger ones are named by URL."""


@dataclass(frozen=True)
class Binding:
    """One element's required binding: ``kind`` is ``code``, ``Coding`` or
    ``CodeableConcept``; ``codes`` for a code, ``pairs`` (system, code) for the others."""

    kind: str
    value_set: str
    codes: frozenset[str]
    pairs: frozenset[tuple[str, str]]


@cache
def bindings() -> dict[str, dict[str, Binding]]:
    """Model name → JSON field name → its binding, read once per process."""
    table = json.loads(BINDINGS.read_bytes())
    value_sets: dict[str, dict[str, list[str]]] = table["value_sets"]
    made: dict[str, Binding] = {}
    for url, systems in value_sets.items():
        pairs = frozenset((system, code) for system, codes in systems.items() for code in codes)
        made[url] = Binding("code", url, frozenset(code for _, code in pairs), pairs)
    return {
        model: {
            field: Binding(kind, url, made[url].codes, made[url].pairs)
            for field, (kind, url) in fields.items()
        }
        for model, fields in table["models"].items()
    }


def binding_holds(binding: Binding, value: Any) -> bool:
    """Whether ``value`` is from the bound value set (a CodeableConcept: one of its codings)."""
    if binding.kind == "code":
        return type(value) is str and value in binding.codes
    if type(value) is not dict:
        return False
    if binding.kind == "Coding":
        return _coding_holds(binding, value)
    codings = value.get("coding")
    return type(codings) is list and any(_coding_holds(binding, c) for c in codings)


def _coding_holds(binding: Binding, coding: Any) -> bool:
    """A coding of the set; one with no ``system`` counts by its code alone.

    EHRs often leave the system off a status coding (``{"code": "active"}``), and the engines
    read such a coding by its code: refusing it would drop a patient's active diagnosis over a
    missing URI, while a code outside the set is still refused.
    """
    if type(coding) is not dict:
        return False
    system, code = coding.get("system"), coding.get("code")
    if type(code) is not str:
        return False
    if system is None:
        return code in binding.codes
    return (system, code) in binding.pairs


def bound_check(binding: Binding, structural: Check) -> Check:
    """``structural`` (the element's compiled check) narrowed to the value set."""
    if binding.kind == "code":
        codes = binding.codes  # every listed code is a well-formed code: one lookup does

        def code_check(value: Any) -> bool:
            return type(value) is str and value in codes

        return code_check

    def check(value: Any) -> bool:
        return structural(value) and binding_holds(binding, value)

    return check


@cache
def _models() -> dict[str, Any]:
    models: dict[str, Any] = json.loads(_STRUCTURE.read_bytes())["models"]
    return models


def binding_problem(resource: dict[str, Any]) -> str | None:
    """``"<path>: <why>"`` for the first element outside its required value set, else None.
    The path is FHIRPath-like from the resource (``telecom[1].system``); a resource held
    inside another (``contained``) is walked as its own type (``contained[0].status``)."""
    name = _resource_models().get(resource.get("resourceType"))
    return None if name is None else _problem(_models(), name, resource, "")


@cache
def _resource_models() -> dict[Any, str]:
    """resourceType → the name of its model in the structure (the described types)."""
    return {m["resource"]: n for n, m in _models().items() if m["resource"] is not None}


def _problem(models: dict[str, Any], name: str, value: Any, path: str) -> str | None:
    if type(value) is not dict:
        return None
    fields: dict[str, str] = models[name]["fields"]
    bound = bindings().get(name, {})
    for key, item in value.items():
        spec = fields.get(key)
        if spec is None:
            continue
        if spec.startswith("[") and type(item) is list:
            each = [(f"{path}{key}[{i}]", one) for i, one in enumerate(item)]
        else:
            each = [(f"{path}{key}", item)]
        binding = bound.get(key)
        target = spec.lstrip("[")
        for where, one in each:
            if binding is not None and not binding_holds(binding, one):
                return f"{where}: {_why(binding, one)}"
            if target.startswith("@"):
                found = _problem(models, target[1:], one, where + ".")
            elif target == "never" and type(one) is dict:
                # A resource inside this one (``contained``): its model holds its bindings.
                inner = _resource_models().get(one.get("resourceType"))
                found = None if inner is None else _problem(models, inner, one, where + ".")
            else:
                found = None
            if found is not None:
                return found
    return None


def _why(binding: Binding, value: Any) -> str:
    listed = (
        f" (one of: {', '.join(sorted(binding.codes))})" if len(binding.codes) <= _LISTED else ""
    )
    if binding.kind == "code":
        shown = repr(value) if type(value) is str and _SHOWABLE.fullmatch(value) else "the value"
        return f"{shown} is not a code of {binding.value_set}{listed}"
    return f"no coding from {binding.value_set}{listed}"
