"""A dataclass's fields as a dict: the one body of the ``as_dict`` methods.

Hand-written ``as_dict`` bodies repeated every field by name, so a field added to the class
could be left out of its JSON. :func:`field_dict` reads the fields from the class instead.
Unlike :func:`dataclasses.asdict` it is shallow, as those bodies were: values are neither
copied nor turned into dicts, and the caller converts only the few that JSON needs changed.
"""

from __future__ import annotations

from dataclasses import fields
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from _typeshed import DataclassInstance


def field_dict(obj: DataclassInstance, **changed: object) -> dict[str, Any]:
    """Every field of ``obj`` by name, in declaration order; ``changed`` replaces a field's
    value in its place (a converted date, a rounded figure) or adds a key at the end."""
    return {name: getattr(obj, name) for name in _field_names(type(obj))} | changed


@cache
def _field_names(cls: type[DataclassInstance]) -> tuple[str, ...]:
    """A dataclass's field names, read once per class (``fields`` rebuilds its tuple from
    the class at every call; a night's decisions turn ~35 records per patient into dicts)."""
    return tuple(f.name for f in fields(cls))
