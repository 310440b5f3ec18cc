"""Floor: what a FHIR resource may hold that a database row cannot.

FHIR asks strings not to carry control characters below U+0020 but tab, CR and LF, and caps an
``id`` at 64 characters ``[A-Za-z0-9.-]``; the models are looser (ids up to 255), and PostgreSQL
cannot store U+0000 in ``text`` or ``jsonb`` at all. A resource that breaks either rule is
refused where it enters (HTTP, MQTT) with the element named, instead of failing at the write
with a database error whose text would quote the resource.
"""

from __future__ import annotations

from typing import Any

ID_MAX = 64
NUL_ESCAPE = b"\\u0000"


def unstorable(resource: dict[str, Any], raw: bytes | None = None) -> tuple[str, str] | None:
    """``(element, reason)`` for the first element the record could not store, else None.

    ``raw`` (the JSON the resource was decoded from) lets the usual resource skip the walk: a
    NUL can only arrive as the escape ``\\u0000`` in valid JSON."""
    rid = resource.get("id")
    if isinstance(rid, str) and len(rid) > ID_MAX:
        return "id", f"at most {ID_MAX} characters (FHIR id)"
    if raw is not None and NUL_ESCAPE not in raw:
        return None
    where = nul_path(resource)
    if where is None:
        return None
    return where, "contains a NUL character (U+0000), which a FHIR string may not hold"


def nul_path(value: Any) -> str | None:
    """The FHIRPath-like location (``note[0].text``) of the first key or string holding a NUL
    character, else None; iterative, so a deeply nested body cannot exhaust the stack."""
    stack: list[tuple[str, Any]] = [("", value)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, str):
            if "\x00" in node:
                return path or "body"
        elif isinstance(node, dict):
            for key, item in node.items():
                where = f"{path}.{key}" if path else str(key)
                if isinstance(key, str) and "\x00" in key:
                    return where
                stack.append((where, item))
        elif isinstance(node, list):
            stack.extend((f"{path}[{i}]", item) for i, item in enumerate(node))
    return None
