"""The cheap half of import validation: FHIR structure compiled into plain checks.

Validating a resource through ``fhir.resources``' pydantic models costs about 260 µs (a
Python validator runs for every nested element); that was most of an import's time. This
module compiles the same models' structure (allowed elements, lists, required elements, choice
types ``value[x]``, primitive formats), kept as JSON beside it (``fhir_structure.json``,
written by ``tools/fhir_structure.py``: importing the models costs a process seconds), into
closures that answer one question: *is this resource surely valid?* A field bound *required*
to a value set (``records.fhir_bindings``) is checked as a lookup in its codes.

It is conservative by construction: whatever it is not sure of answers False (primitive
extensions ``_x``, contained resources, nulls, empty lists, leap seconds, non-ASCII codes,
base64, a value the models would coerce such as ``"5"`` for a decimal), and the importer then
runs full validation, which either accepts or names the field. A resource is therefore
rejected exactly when full validation rejects it; ``tests/records/test_fhir_check.py`` checks
that on the Synthea files, on broken resources and on generated ones.
"""

from __future__ import annotations

import json
import math
import re
import typing
from collections.abc import Callable, Iterable
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

import orjson

from careloop.records.fhir_bindings import Binding, bindings, bound_check

Check = Callable[[Any], bool]

# Primitive formats, each no wider than what fhir_core accepts (fhir_core/types.py).
_STRING_START = re.compile(r"[ \r\n\t\S]")  # one such character is all the models ask
_CODE = re.compile(r"[!-~]+(?: [!-~]+)*")  # ASCII only: no doubt about what \s means
_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
_NO_SPACE = re.compile(r"[!-~]+")
_OID = re.compile(r"urn:oid:[0-2](\.(0|[1-9][0-9]*))+")
_DECIMAL = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")
_YEAR = r"([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)"
_DATE = re.compile(_YEAR + r"(-(0[1-9]|1[0-2])(-(0[1-9]|[1-2][0-9]|3[0-1]))?)?")
# Seconds 00-59 only (a leap second goes to full validation) and at most microseconds.
_CLOCK = r"([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,6})?"
_ZONE = r"(Z|[+\-]((0[0-9]|1[0-3]):[0-5][0-9]|14:00))"
_DATETIME = re.compile(
    _YEAR + r"(-(0[1-9]|1[0-2])(-(0[1-9]|[1-2][0-9]|3[0-1])(T" + _CLOCK + _ZONE + r")?)?)?"
)
_INSTANT = re.compile(_YEAR + r"-(0[1-9]|1[0-2])-(0[1-9]|[1-2][0-9]|3[0-1])T" + _CLOCK + _ZONE)
_TIME = re.compile(_CLOCK)


def _a_string(value: Any) -> bool:
    # _STRING_START without the regular expression (a fifth of the check's time): str.isspace
    # and the pattern's \s are the same Unicode whitespace.
    return type(value) is str and value != "" and (value[0] in " \r\n\t" or not value[0].isspace())


def _a_code(value: Any) -> bool:
    # _CODE by string methods: printable ASCII is [ -~]; then no space at either end or twice.
    return (
        type(value) is str
        and value.isascii()
        and value.isprintable()
        and value != ""
        and value[0] != " "
        and value[-1] != " "
        and "  " not in value
    )


def _an_id(value: Any) -> bool:
    return type(value) is str and _ID.fullmatch(value) is not None


def _free_text(value: Any) -> bool:
    """uri, canonical, markdown, xhtml: any string passes the models' patterns."""
    return type(value) is str and value != ""


def _a_url(value: Any) -> bool:
    return type(value) is str and _NO_SPACE.fullmatch(value) is not None


def _an_oid(value: Any) -> bool:
    return type(value) is str and _OID.fullmatch(value) is not None


def _a_boolean(value: Any) -> bool:
    return type(value) is bool


def _a_decimal(value: Any) -> bool:
    if type(value) is int:
        return -(10**15) < value < 10**15
    return (
        type(value) is float and math.isfinite(value) and _DECIMAL.fullmatch(str(value)) is not None
    )


def _integer(low: int) -> Check:
    def check(value: Any) -> bool:
        return type(value) is int and low <= value <= 2_147_483_647

    return check


def _real_day(value: str) -> bool:
    """A full date names a day that exists (the pattern allows 2021-02-30)."""
    if len(value) < 10:
        return True
    try:
        date(int(value[0:4]), int(value[5:7]), int(value[8:10]))
    except ValueError:
        return False
    return True


def _a_moment(pattern: re.Pattern[str]) -> Check:
    """A date, dateTime or instant check that remembers the strings it passed: the
    resources of an encounter share its times (a string is only ever equal to itself)."""
    passed: set[str] = set()

    def check(value: Any) -> bool:
        if type(value) is not str:
            return False
        if value in passed:
            return True
        if pattern.fullmatch(value) is None or not _real_day(value):
            return False
        return _kept(passed, value)

    return check


MEMORY = 20_000
"""How many passed values each remembering check keeps (then it starts again)."""


def _kept(passed: set[Any], value: Any) -> bool:
    """Remember that ``value`` passed (a full memory starts again); True."""
    if len(passed) >= MEMORY:
        passed.clear()
    passed.add(value)
    return True


_a_date = _a_moment(_DATE)
_a_datetime = _a_moment(_DATETIME)
_an_instant = _a_moment(_INSTANT)


def _a_time(value: Any) -> bool:
    return type(value) is str and _TIME.fullmatch(value) is not None


def _never(value: Any) -> bool:
    """What this module does not judge (base64, uuid, contained resources): full validation."""
    return False


_PRIMITIVES: dict[str, Check] = {
    "String": _a_string,
    "Code": _a_code,
    "Id": _an_id,
    "Uri": _free_text,
    "Canonical": _free_text,
    "Markdown": _free_text,
    "Xhtml": _free_text,
    "Url": _a_url,
    "Oid": _an_oid,
    "Decimal": _a_decimal,
    "Integer": _integer(-2_147_483_648),
    "UnsignedInt": _integer(0),
    "PositiveInt": _integer(1),
    "Date": _a_date,
    "DateTime": _a_datetime,
    "Instant": _an_instant,
    "Time": _a_time,
    "Boolean": _a_boolean,
}


def _list_of(item: Check) -> Check:
    def check(value: Any) -> bool:
        return type(value) is list and len(value) > 0 and all(map(item, value))

    return check


# ---- the structure, read from the models (by tools/fhir_structure.py and the tests) ----


def describe_structure(resource_types: Iterable[str]) -> dict[str, Any]:
    """What the compiled checks need from ``fhir.resources``' models, as plain JSON.

    Per model (class name): ``resource`` (its resourceType, or None for an element),
    ``fields`` (JSON name → ``"Code"``-like primitive, ``"@Model"``, ``"never"``; a
    leading ``[`` for a list), ``required`` names and ``choices`` ([names, required]).
    Importing the models costs a parser process seconds; the description costs nothing.
    """
    from fhir.resources.R4B import get_fhir_model_class

    models: dict[str, Any] = {}
    seen: dict[str, Any] = {}
    pending = [get_fhir_model_class(t) for t in sorted(resource_types)]
    while pending:
        model = pending.pop()
        if seen.setdefault(model.__name__, model) is not model:
            raise ValueError(f"two models named {model.__name__}")
        if model.__name__ in models:
            continue
        fields: dict[str, str] = {}
        required: list[str] = []
        for name, info in model.model_fields.items():
            if name.endswith("__ext") or name == "fhir_comments":
                continue  # primitive extensions and comments: full validation
            fields[info.alias or name] = _describe_type(info.annotation, pending)
            if info.is_required():
                required.append(info.alias or name)
        probe = model.model_construct()  # the two lists are per class, asked of an instance
        required.extend(name for name, _ext in probe.get_required_fields())
        choices = []
        for members in probe.get_one_of_many_fields().values():
            extra = model.model_fields[members[0]].json_schema_extra
            needed = isinstance(extra, dict) and extra.get("one_of_many_required") is True
            choices.append([sorted(model.model_fields[m].alias or m for m in members), needed])
        models[model.__name__] = {
            "resource": model.get_resource_type() if model.has_resource_base() else None,
            "fields": dict(sorted(fields.items())),
            "required": sorted(set(required)),
            "choices": sorted(choices),
        }
    return {"fhir.resources": _models_version(), "models": dict(sorted(models.items()))}


def _models_version() -> str:
    from importlib.metadata import version

    return version("fhir.resources")


def _describe_type(annotation: Any, pending: list[Any]) -> str:
    from fhir_core.types import FhirBase, FhirElementOrResourceBase

    origin = typing.get_origin(annotation)
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if origin is typing.Annotated:
        kind = type(typing.get_args(annotation)[1]).__name__
        return kind if kind in _PRIMITIVES else "never"
    if origin in (list, typing.List):  # noqa: UP006 - the models spell typing.List
        return "[" + _describe_type(args[0], pending)
    if origin is not None:  # Optional[X] / X | None
        return _describe_type(args[0], pending) if len(args) == 1 else "never"
    if annotation is bool:
        return "Boolean"
    if isinstance(annotation, type) and issubclass(annotation, FhirBase):
        if issubclass(annotation, FhirElementOrResourceBase):
            return "never"  # contained resources
        model = annotation.get_model_klass()
        pending.append(model)
        return "@" + model.__name__
    return "never"


# ---- the checks, compiled from the description ----


def _compile(structure: dict[str, Any], *, parsed: bool = False) -> dict[str, Check]:
    """One check per model; a model's field table is filled once every check exists, so an
    element's check calls the nested element's check directly (Extension holds Extension).
    ``parsed``: for values decoded from JSON text, the :data:`MEMOIZED` models remember what
    they passed (:func:`_remembering`)."""
    models: dict[str, Any] = structure["models"]
    tables: dict[str, dict[str, Check]] = {name: {} for name in models}
    compiled = {name: _model_check(model, tables[name]) for name, model in models.items()}
    if parsed:
        compiled.update((name, _remembering(compiled[name])) for name in MEMOIZED & compiled.keys())

    def field_check(spec: str, binding: Binding | None) -> Check:
        if spec.startswith("["):
            return _list_of(field_check(spec[1:], binding))
        if binding is not None:
            return bound_check(binding, field_check(spec, None))
        if spec.startswith("@"):
            return compiled[spec[1:]]
        return _PRIMITIVES.get(spec, _never)

    for name, model in models.items():
        bound = bindings().get(name, {})
        tables[name].update(
            (key, field_check(spec, bound.get(key))) for key, spec in model["fields"].items()
        )
        if model["resource"] is not None:
            tables[name]["resourceType"] = model["resource"].__eq__
    return {
        model["resource"]: compiled[name]
        for name, model in models.items()
        if model["resource"] is not None
    }


def _model_check(model: dict[str, Any], fields: dict[str, Check]) -> Check:
    required = frozenset(model["required"])
    choices = [(frozenset(members), needed) for members, needed in model["choices"]]
    choice_keys = frozenset().union(*(members for members, _ in choices))
    needs_choice = any(needed for _, needed in choices)

    def elements(value: Any) -> bool:
        if type(value) is not dict:
            return False
        get = fields.get
        for key, item in value.items():
            check_item = get(key)
            # The commonest primitives inline (a call each was a tenth of the check).
            if check_item is _free_text:
                if type(item) is not str or item == "":
                    return False
            elif check_item is _a_string:
                if type(item) is not str or item == "":
                    return False
                if item[0] not in " \r\n\t" and item[0].isspace():
                    return False
            elif check_item is _a_code:
                if (
                    type(item) is not str
                    or item == ""
                    or not (item.isascii() and item.isprintable())
                ):
                    return False
                if item[0] == " " or item[-1] == " " or "  " in item:
                    return False
            elif check_item is None or not check_item(item):
                return False
        return True

    if not required and not choices:
        return elements  # most elements: Coding, Reference, Period, Quantity, ...

    def check(value: Any) -> bool:
        if not elements(value):
            return False
        keys = value.keys()
        if required and not required.issubset(keys):
            return False
        if needs_choice or not choice_keys.isdisjoint(keys):
            for members, needed in choices:
                present = len(members.intersection(keys))
                if present > 1 or (needed and present == 0):
                    return False
        return True

    return check


MEMOIZED = frozenset({"CodeableConcept", "Meta", "Quantity"})
"""Elements that recur verbatim across resources (a LOINC code's concept, a profile list, a
unit's quantity): a third of what the checks visit in Synthea resources."""


def _remembering(check: Check) -> Check:
    """``check`` answering at once for a value whose compact JSON it has passed before.

    Equal JSON text is an equal value of the same JSON types (``1`` and ``1.0``, ``true``
    and ``1`` are different texts), so the answer is the same; that holds only for values
    decoded from JSON text (``orjson`` writes a ``datetime`` or a ``UUID`` as a string too),
    hence ``surely_valid(..., parsed=True)``. A value it cannot write is checked as usual."""
    passed: set[bytes] = set()
    dumps = orjson.dumps

    def remembered(value: Any) -> bool:
        try:
            text = dumps(value)
        except TypeError:
            return check(value)
        if text in passed:
            return True
        if not check(value):
            return False
        return _kept(passed, text)

    return remembered


STRUCTURE = Path(__file__).with_name("fhir_structure.json")


@cache
def _checks(parsed: bool = False) -> dict[str, Check]:
    """The check of every described resource type, compiled once per process."""
    compiled: dict[str, Check] = _compile(json.loads(STRUCTURE.read_bytes()), parsed=parsed)
    return compiled


def load_checks() -> None:
    """Compile the checks now (parser processes forked later share them)."""
    _checks()
    _checks(parsed=True)


def surely_valid(resource: dict[str, Any], *, parsed: bool = False) -> bool:
    """True only if full model validation would accept ``resource``; False means "ask it".
    ``parsed``: ``resource`` was decoded from JSON text (only JSON types in it), so checks
    may remember values they passed (:func:`_remembering`)."""
    return _checks(parsed).get(resource["resourceType"], _never)(resource)
