"""The cheap half of import validation: FHIR structure compiled into plain checks.

Validating a resource through ``fhir.resources``' pydantic models costs about 260 µs (a
Python validator runs for every nested element); that was most of an import's time. This
module reads the same models once per process (allowed elements, lists, required elements,
choice types ``value[x]``, primitive formats) and compiles them into closures that answer one
question: *is this resource surely valid?*

It is conservative by construction: whatever it is not sure of answers False (primitive
extensions ``_x``, contained resources, nulls, empty lists, leap seconds, non-ASCII codes,
base64, a value the models would coerce such as ``"5"`` for a decimal), and the importer then
runs full validation, which either accepts or names the field. A resource is therefore
rejected exactly when full validation rejects it; ``tests/records/test_fhir_check.py`` checks
that on the Synthea files, on broken resources and on generated ones.
"""

from __future__ import annotations

import math
import re
import typing
from collections.abc import Callable
from datetime import date
from functools import cache
from typing import Any

Check = Callable[[Any], bool]
_compiled: dict[Any, Check] = {}

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
    return type(value) is str and _STRING_START.match(value) is not None


def _a_code(value: Any) -> bool:
    return type(value) is str and _CODE.fullmatch(value) is not None


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


def _a_date(value: Any) -> bool:
    return type(value) is str and _DATE.fullmatch(value) is not None and _real_day(value)


def _a_datetime(value: Any) -> bool:
    return type(value) is str and _DATETIME.fullmatch(value) is not None and _real_day(value)


def _an_instant(value: Any) -> bool:
    return type(value) is str and _INSTANT.fullmatch(value) is not None and _real_day(value)


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
}


def _list_of(item: Check) -> Check:
    def check(value: Any) -> bool:
        return type(value) is list and len(value) > 0 and all(map(item, value))

    return check


def _value_check(annotation: Any) -> Check:
    """The check of one field's declared type (Optional and List unwrapped)."""
    from fhir_core.types import FhirBase, FhirElementOrResourceBase

    origin = typing.get_origin(annotation)
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if origin is typing.Annotated:
        return _PRIMITIVES.get(type(typing.get_args(annotation)[1]).__name__, _never)
    if origin in (list, typing.List):  # noqa: UP006 - the models spell typing.List
        return _list_of(_value_check(args[0]))
    if origin is not None:  # Optional[X] / X | None
        return _value_check(args[0]) if len(args) == 1 else _never
    if annotation is bool:
        return _a_boolean
    if isinstance(annotation, type) and issubclass(annotation, FhirBase):
        if issubclass(annotation, FhirElementOrResourceBase):
            return _never
        return _element_check(annotation.get_model_klass())
    return _never


def _element_check(model: Any) -> Check:
    """Compile one model: its elements (by JSON name), required ones, choice groups."""
    known = _compiled.get(model)
    if known is not None:
        return known
    fields: dict[str, Check] = {}
    is_resource = model.has_resource_base()
    resource_type = model.get_resource_type()
    required: set[str] = set()
    choices: list[tuple[frozenset[str], bool]] = []

    def check(value: Any) -> bool:
        if type(value) is not dict:
            return False
        for key, item in value.items():
            check_item = fields.get(key)
            if check_item is None or not check_item(item):
                return False
        if not required.issubset(value.keys()):
            return False
        for members, needed in choices:
            present = len(members.intersection(value.keys()))
            if present > 1 or (needed and present == 0):
                return False
        return True

    # Registered before compiling the fields: Extension contains Extension.
    _compiled[model] = check
    for name, info in model.model_fields.items():
        if name.endswith("__ext") or name == "fhir_comments":
            continue  # primitive extensions and comments: full validation
        fields[info.alias or name] = _value_check(info.annotation)
        if info.is_required():
            required.add(info.alias or name)
    if is_resource:
        fields["resourceType"] = resource_type.__eq__
    for name, _ext in model.get_required_fields(None):
        required.add(name)  # the element's JSON name
    for members in model.get_one_of_many_fields(None).values():
        extra = model.model_fields[members[0]].json_schema_extra or {}
        needed = isinstance(extra, dict) and extra.get("one_of_many_required") is True
        aliases = frozenset(model.model_fields[m].alias or m for m in members)
        choices.append((aliases, needed))
    return check


@cache
def resource_check(resource_type: str) -> Check:
    """The compiled check of one resource type (built on first use in each process)."""
    from fhir.resources.R4B import get_fhir_model_class

    return _element_check(get_fhir_model_class(resource_type))


def surely_valid(resource: dict[str, Any]) -> bool:
    """True only if full model validation would accept ``resource``; False means "ask it"."""
    return resource_check(resource["resourceType"])(resource)
