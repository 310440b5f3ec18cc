"""Conditions on the codes of stored resources, read from ``fhir_resources.codes``.

That column holds a resource's codings as space-separated ``system|code``. A table with one
row per coding (``resource_codes``, dropped by migration 0510) answered the same look-ups at
the price of a second row and two index entries per coding written at every import. Now
"which resources carry system|code" is a GIN index over the column's elements on PostgreSQL
(``models.records.CODE_ELEMENTS``); SQLite, the default for small installs, scans the type.
The bare-code filters run on rows already narrowed by patient and need no index.

A code is what follows the first ``|`` of its element (a system is a URI: it has no ``|``).
A code with a space in it (FHIR allows single inner spaces) spans two elements: a wanted
one is looked for in the whole text instead, so a token search stays exact and a code filter
keeps every row it must (``tests/records/test_code_filter.py``).
"""

from __future__ import annotations

from collections.abc import Collection

import orjson
from sqlalchemy import ARRAY, ColumnElement, Text, bindparam, func, literal, literal_column, or_
from sqlalchemy import text as sql_text

from careloop.models import FhirResource

SYSTEM_WIDTH, CODE_WIDTH = 255, 128
"""An element of the column keeps this much of its system and code (what ``resource_codes``
kept): a GIN entry over ~2.7 kB fails the INSERT on PostgreSQL."""


def _quoted(value: str) -> str:
    """A system or code with its spaces (and so its ``%``) percent-encoded: an element is
    then exactly one coding, and a code with a space is never read as two."""
    return value.replace("%", "%25").replace(" ", "%20")


def bare(code: str) -> str:
    """A bare code as the column holds it after its ``|``."""
    return _quoted(code[:CODE_WIDTH])


def element(system: str, code: str) -> str:
    """One coding as the column holds it (and as a wanted one is looked for)."""
    return f"{_quoted(system[:SYSTEM_WIDTH])}|{bare(code)}"


def column_text(codes: Collection[tuple[str, str]]) -> str:
    """The ``codes`` column of a resource with ``codes``.

    Import writes one for every resource: when no system or code is too long or holds a
    space or a ``%`` (nothing to cut or quote, checked once over the joined text), the
    elements are the plain ``system|code`` pairs."""
    pairs = dict.fromkeys([s + "|" + c for s, c in codes])
    plain = " ".join(pairs)
    if (
        "%" not in plain
        and plain.count(" ") == max(len(pairs) - 1, 0)
        and all(len(s) <= SYSTEM_WIDTH and len(c) <= CODE_WIDTH for s, c in codes)
    ):
        return plain
    return " ".join(dict.fromkeys(element(s, c) for s, c in codes))


def _padded() -> ColumnElement[str]:
    """The codes between spaces, so each element is found as `` system|code ``."""
    return literal(" ") + FhirResource.codes + literal(" ")


def _position(dialect: str, haystack: ColumnElement[str], needle: str) -> ColumnElement[int]:
    """Where ``needle`` occurs in ``haystack`` (0 when it does not), case-sensitively."""
    if dialect == "postgresql":
        return func.strpos(haystack, needle)
    return func.instr(haystack, needle)


def carries_token(dialect: str, tokens: Collection[tuple[str, str]]) -> ColumnElement[bool]:
    """Rows with a coding equal to one of ``tokens`` (system, code), exactly.

    On PostgreSQL the array overlap is answered by ``ix_fhir_resources_codes``."""
    whole = sorted({element(system, code) for system, code in tokens})
    spaced = [token for token in whole if " " in token]
    plain = [token for token in whole if " " not in token]
    clauses: list[ColumnElement[bool]] = [
        _position(dialect, _padded(), f" {token} ") > 0 for token in spaced
    ]
    if plain and dialect == "postgresql":
        # A constant, not a bound value: the indexed expression is recognised in the query.
        space: ColumnElement[str] = literal_column("' '")
        elements = func.string_to_array(FhirResource.codes, space, type_=ARRAY(Text))
        clauses.append(elements.op("&&")(literal(plain, type_=ARRAY(Text))))
    else:
        clauses += [_position(dialect, _padded(), f" {token} ") > 0 for token in plain]
    return or_(*clauses)


def may_carry_code(codes: Collection[str]) -> ColumnElement[bool]:
    """Rows that may carry one of the bare ``codes``: a superset (the caller matches
    systems, and SQLite's ``LIKE`` ignores the case of ASCII letters)."""
    wanted = sorted({bare(code) for code in codes})
    return or_(*(_padded().contains(f"|{code} ", autoescape=True) for code in wanted))


_PG_HAS_CODE = sql_text(
    "((strpos(fhir_resources.codes, ' ') = 0 AND strpos(fhir_resources.codes, '|') > 0 AND "
    "substr(fhir_resources.codes, strpos(fhir_resources.codes, '|') + 1) = ANY(:bare_codes)) "
    "OR (strpos(fhir_resources.codes, ' ') > 0 AND EXISTS (SELECT 1 FROM "
    "unnest(string_to_array(fhir_resources.codes, ' ')) AS e(coding) "
    "WHERE strpos(e.coding, '|') > 0 "
    "AND substr(e.coding, strpos(e.coding, '|') + 1) = ANY(:bare_codes))))"
).bindparams(bindparam("bare_codes", type_=ARRAY(Text)))
"""One coding (four rows in five) is compared whole; several are split. ``= ANY`` over the
constant array is hashed once per query (PostgreSQL >= 14), however many codes are wanted."""

_SQLITE_HAS_CODE = sql_text(
    "EXISTS (SELECT 1 FROM json_each(:bare_codes) AS w "
    "WHERE instr(' ' || fhir_resources.codes || ' ', '|' || w.value || ' ') > 0)"
)


def carries_code(dialect: str, codes: Collection[str]) -> ColumnElement[bool]:
    """Rows carrying one of the bare ``codes``, for a filter that must keep every such row.

    On PostgreSQL exact, except that a stored code with a space also passes for its first
    word (a wanted code with a space is looked for in the whole text); on SQLite a superset
    (a code found after any ``|`` of an element, ``json_each`` over the wanted codes)."""
    wanted = sorted({bare(code) for code in codes})
    if dialect == "postgresql":
        plain = [code for code in wanted if " " not in code]
        spaced = [code for code in wanted if " " in code]
        clause = _PG_HAS_CODE.bindparams(bare_codes=plain)
        return or_(clause, *(func.strpos(_padded(), f"|{code} ") > 0 for code in spaced))
    return or_(_SQLITE_HAS_CODE.bindparams(bare_codes=orjson.dumps(wanted).decode()))
