"""The SQL of reading fact rows for identification (``records.projection``): which
patients, which codes, which columns, and how PostgreSQL is to plan it."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import psycopg
from psycopg.adapt import Dumper
from sqlalchemy import ColumnElement, Float, Text, any_, bindparam, cast, func, select, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session
from sqlalchemy.types import TypeDecorator

from careloop.models import ResourceFact, ResourceFactBody
from careloop.records.extract import SUPPORTED_TYPES

_FACTS = ResourceFact.__table__.c
_BODIES = ResourceFactBody.__table__.c
# A fact row's JSON as text, from its body by primary key (decoded here with orjson: the
# driver's JSON decoding took 3x as long). A sub-query, not a join: the night asks for the
# bodies of a few rows of its patients only (``projection_defer.fact_column``), and a join
# would let the planner read every body of the batch.
FACT_TEXT = (
    select(cast(_BODIES.fact, Text))
    .where(_BODIES.resource_type == _FACTS.resource_type, _BODIES.fhir_id == _FACTS.fhir_id)
    .scalar_subquery()
)


class TextArray(str):
    """A ``text[]`` parameter as its literal (``{"a","b"}``), written once: the driver dumps a
    list element by element in Python on every execute, and the night's code filter sends
    the same two lists of ~3,400 codes with each batch of 500 patients (``SharedFacts``)."""

    __slots__ = ()


class _TextArrayDumper(Dumper):
    """Sends a :class:`TextArray` as is, with the type left to the server (oid 0), as the
    driver sends a list of ``str`` (the statement casts it: ``::TEXT[]``)."""

    oid = 0

    def dump(self, obj: str) -> bytes:
        return obj.encode()


psycopg.adapters.register_dumper(TextArray, _TextArrayDumper)


class TextArrayType(TypeDecorator[Any]):
    """``text[]`` for a bound :class:`TextArray`: the statement keeps its ``::TEXT[]`` (so the
    planner sees a constant array and hashes it), the value passes unprocessed (SQLAlchemy's
    ``ARRAY`` would copy it into a list, here a list of characters)."""

    impl = ARRAY
    cache_ok = True

    def bind_processor(self, dialect: Dialect) -> None:
        return None


def text_array(values: Iterable[str]) -> TextArray:
    """The ``text[]`` literal of ``values``: every element quoted (so an empty string, a
    space, a comma, ``NULL`` or a brace stays an element), ``\\`` and ``"`` escaped."""
    return TextArray(
        "{"
        + ",".join('"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"' for value in values)
        + "}"
    )


# A code filter of thousands of codes: ``= ANY`` over a constant array is hashed once per
# query (PostgreSQL >= 14); the array overlap operator it replaces compared every code of
# every row with every wanted code (~20 s per 500 patients at 250 facts each). Four rows in
# five carry one code (no space): those are compared whole against the wanted codes without
# a space (``single``), which skips the per-row sub-query that splits the list (a third of
# the read's time in PostgreSQL); only rows with several codes split them.
_HAS_CODE = text(
    "(resource_facts.codes = ANY(:single) OR (strpos(resource_facts.codes, ' ') > 0 AND "
    "EXISTS (SELECT 1 FROM unnest(string_to_array(resource_facts.codes, ' ')) AS c(code) "
    "WHERE c.code = ANY(:codes))))"
).bindparams(
    bindparam("single", type_=TextArrayType(Text)), bindparam("codes", type_=TextArrayType(Text))
)


def epoch(column: Any, *, postgres: bool) -> ColumnElement[Any]:
    """A timestamp column as POSIX seconds on PostgreSQL (a float costs the driver less than
    a datetime); on SQLite the column itself (converted as read).

    ``date_part`` gives the double directly: ``EXTRACT`` gives a numeric (PostgreSQL >= 14)
    that was then cast, an eighth of the fact read's server CPU. The same double: both are
    the exact microsecond count over 10^6, correctly rounded (infinities stay infinite)."""
    if postgres:
        return func.date_part("epoch", column, type_=Float)
    return column  # type: ignore[no-any-return]


def patient_in_chunk(*, postgres: bool) -> ColumnElement[bool]:
    """The batch's patients (parameter ``chunk``): one array on PostgreSQL, so the statement
    is the same text for every batch; an expanding ``IN`` on SQLite."""
    if postgres:
        return ResourceFact.patient_id == any_(bindparam("chunk", type_=TextArrayType(Text)))
    return ResourceFact.patient_id.in_(bindparam("chunk", expanding=True))


def code_filter() -> ColumnElement[bool]:
    """Rows of ``always`` types, of types without indexed codes, or with a wanted code."""
    return (
        ResourceFact.resource_type.in_(bindparam("always", expanding=True))
        | ResourceFact.resource_type.not_in(bindparam("supported", expanding=True))
        | _HAS_CODE
    )


def filter_params(always: frozenset[str], codes: frozenset[str]) -> dict[str, Any]:
    """Parameters of :func:`_code_filter`: ``single`` holds the wanted codes a one-code row
    can equal whole (not empty, no space), so ``codes = ANY(single)`` on a row without a
    space says exactly what splitting it would."""
    return {
        "always": sorted(always),
        "supported": sorted(SUPPORTED_TYPES),
        "codes": text_array(sorted(codes)),
        "single": text_array(sorted(code for code in codes if code and " " not in code)),
    }


def custom_plans(session: Session) -> bool:
    """On PostgreSQL, plan this transaction's queries for their actual parameters: a
    generic plan (chosen for a statement the driver prepared) sees the code array as a
    parameter and cannot hash it; JIT compilation cost more than these queries. Returns
    whether the database is PostgreSQL."""
    if session.get_bind().dialect.name != "postgresql":
        return False
    session.execute(
        text(
            "SELECT set_config('plan_cache_mode', 'force_custom_plan', true), "
            "set_config('jit', 'off', true)"
        )
    )
    return True
