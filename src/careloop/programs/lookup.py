"""Finding one named definition (a program, a segment) among those loaded."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

from careloop.errors import InvalidInput

T = TypeVar("T")


def find_by_name(known: Mapping[str, T], name: str, *, field: str) -> T:
    """The definition called ``name`` (any case, spaces trimmed); InvalidInput listing the
    known names otherwise, so a typo is answered with what would have worked."""
    found = known.get(name.strip().lower())
    if found is None:
        names = ", ".join(sorted(known))
        raise InvalidInput(f"unknown {field} {name!r} (known: {names})", field=field)
    return found
