"""FHIR JSON as CQL data: property paths, choice elements, type tests and code extraction.

Resources are the parsed JSON dicts. A path on a choice element (``effective``) finds the key
that carries the choice (``effectiveDateTime``) and returns ``Typed("dateTime", ...)``; the ELM
states which paths are choices (``ChoiceTypeSpecifier``), and the FHIR R4 choice names below
cover ELM without result types. A primitive read as a System type (``birthDate.value`` as
``System.Date``) is converted where the ELM says so.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from careloop.programs.elm.cqltime import CqlDateTime
from careloop.programs.elm.values import Code, Concept, Interval, Quantity, Ratio, Typed

SYSTEM = "{urn:hl7-org:elm-types:r1}"
FHIR_NS = "{http://hl7.org/fhir}"
# FHIR R4 element names that are choices ([x]) in the resources eCQM logic reads. The ELM
# from the CQL translator does not always say which paths are choices, so a path here that
# is absent as a plain key is looked up as ``name<Type>``. Names with a non-choice sibling
# that starts the same way (``reason``: reasonCode/reasonReference) must never be listed.
CHOICE_NAMES = frozenset(
    {
        "value", "effective", "onset", "abatement", "performed", "occurrence", "deceased",
        "multipleBirth", "medication", "timing", "asNeeded", "dose", "rate", "serviced",
        "product", "born", "age", "item", "answer", "collected", "reported", "scheduled",
        "defaultValue", "allowed", "used", "bounds", "quantity", "code", "due", "detail",
        "doseNumber", "seriesDoses", "fastingStatus", "diagnosis", "procedure", "start",
    }
)  # fmt: skip
QUANTITY_TYPES = frozenset(
    {"Quantity", "Age", "Duration", "Distance", "Count", "SimpleQuantity", "MoneyQuantity"}
)
# JSON key suffix -> FHIR type name (primitives are lower-case in FHIR's type names).
_PRIMITIVES = {
    "Boolean": "boolean",
    "Integer": "integer",
    "Decimal": "decimal",
    "String": "string",
    "Uri": "uri",
    "Url": "url",
    "Canonical": "canonical",
    "Code": "code",
    "Date": "date",
    "DateTime": "dateTime",
    "Instant": "instant",
    "Time": "time",
    "Id": "id",
    "Oid": "oid",
    "Uuid": "uuid",
    "Markdown": "markdown",
    "PositiveInt": "positiveInt",
    "UnsignedInt": "unsignedInt",
    "Base64Binary": "base64Binary",
}


def local_name(qname: str) -> str:
    """``{http://hl7.org/fhir}Encounter`` or ``FHIR.Encounter`` -> ``Encounter``."""
    if qname.startswith("{"):
        return qname.split("}", 1)[1]
    return qname.rsplit(".", 1)[-1]


def choice_value(obj: dict[str, Any], name: str) -> Typed | None:
    """The value of choice element ``name[x]`` with its type, or None when absent."""
    size = len(name)
    for key, value in obj.items():
        if len(key) > size and key.startswith(name) and key[size].isupper():
            suffix = key[size:]
            return Typed(_PRIMITIVES.get(suffix, suffix), value)
    return None


def get_path(obj: Any, path: str, *, choice: bool) -> Any:
    """One step of a property path on FHIR JSON (or a CQL tuple / value)."""
    if obj is None:
        return None
    if isinstance(obj, Typed):
        obj = obj.value
    if isinstance(obj, dict):
        value = obj.get(path)
        if value is None and (choice or path in CHOICE_NAMES):
            return choice_value(obj, path)
        return value
    if isinstance(obj, list):
        items = [get_path(item, path, choice=choice) for item in obj]
        flat: list[Any] = []
        for item in items:
            if isinstance(item, list):
                flat.extend(item)
            elif item is not None:
                flat.append(item)
        return flat
    if isinstance(obj, Interval | Quantity | Code | Concept | Ratio):
        return getattr(obj, _ATTRIBUTES.get(path, path), None)
    return obj if path == "value" else None


_ATTRIBUTES = {"lowClosed": "low_closed", "highClosed": "high_closed"}


# Non-choice FHIR R4 elements whose JSON string is a date, dateTime or instant.
TEMPORAL_ELEMENTS = {
    "birthDate": "date",
    "start": "dateTime",
    "end": "dateTime",
    "authoredOn": "dateTime",
    "recordedDate": "dateTime",
    "issued": "instant",
    "lastUpdated": "instant",
    "created": "dateTime",
    "recorded": "instant",
    "dateAsserted": "dateTime",
    "assertedDate": "dateTime",
    "whenHandedOver": "dateTime",
    "whenPrepared": "dateTime",
    "expirationDate": "date",
    "statusDate": "date",
    "date": "dateTime",
}


def primitive_converter(fhir_type: str | None) -> Callable[[Any], Any] | None:
    """How a FHIR primitive's JSON becomes its System value (``dateTime`` -> DateTime)."""
    if fhir_type in ("dateTime", "instant"):
        return _to_datetime
    if fhir_type == "date":
        return _to_date
    if fhir_type == "decimal":
        return _to_decimal
    return None


def typed_primitive(value: Typed) -> Any:
    """``.value`` of a choice value: the System value of a primitive, else the dict's value."""
    if value.fhir_type[:1].islower():
        convert = primitive_converter(value.fhir_type)
        return convert(value.value) if convert is not None else value.value
    return get_path(value.value, "value", choice=False)


def _to_datetime(value: Any) -> Any:
    return CqlDateTime.parse(value) if isinstance(value, str) else value


def _to_date(value: Any) -> Any:
    return CqlDateTime.parse(value, is_date=True) if isinstance(value, str) else value


def _to_decimal(value: Any) -> Any:
    return float(value) if isinstance(value, int) and not isinstance(value, bool) else value


_SYSTEM_TESTS: dict[str, Callable[[Any], bool]] = {
    "Boolean": lambda v: isinstance(v, bool),
    "Integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "Decimal": lambda v: isinstance(v, float),
    "String": lambda v: isinstance(v, str),
    "DateTime": lambda v: isinstance(v, CqlDateTime) and not v.is_date,
    "Date": lambda v: isinstance(v, CqlDateTime) and v.is_date,
    "Quantity": lambda v: isinstance(v, Quantity),
    "Code": lambda v: isinstance(v, Code),
    "Concept": lambda v: isinstance(v, Concept),
    "Ratio": lambda v: isinstance(v, Ratio),
}
_RESOURCE_BASES = frozenset({"Resource", "DomainResource", "Any"})


def is_type(value: Any, type_name: str) -> bool | None:
    """``value is T``: True/False when it can be told, None when the JSON does not say."""
    if value is None:
        return False
    if type_name.startswith(SYSTEM):
        test = _SYSTEM_TESTS.get(type_name[len(SYSTEM) :])
        return None if test is None else test(value)
    wanted = local_name(type_name)
    if isinstance(value, Typed):
        return value.fhir_type == wanted or (
            wanted == "Quantity" and value.fhir_type in QUANTITY_TYPES
        )
    if isinstance(value, dict):
        kind = value.get("resourceType")
        if kind is not None:
            return kind == wanted or wanted in _RESOURCE_BASES
        return None
    if isinstance(value, str | bool | int | float):
        return None
    return False


def codes_of(value: Any) -> list[tuple[str | None, str]]:
    """(system, code) pairs of a Coding, CodeableConcept, list of them, Code or Concept."""
    if value is None:
        return []
    if isinstance(value, Typed):
        value = value.value
    if isinstance(value, list):
        found: list[tuple[str | None, str]] = []
        for item in value:
            found.extend(codes_of(item))
        return found
    if isinstance(value, dict):
        if "coding" in value:
            return codes_of(value["coding"])
        code = value.get("code")
        return [(value.get("system"), str(code))] if code is not None else []
    if isinstance(value, Code):
        return [(value.system, value.code)] if value.code is not None else []
    if isinstance(value, Concept):
        return [(c.system, c.code) for c in value.codes if c.code is not None]
    if isinstance(value, str):
        return [(None, value)]
    return []
