"""The optional filters of a list read: ``column == value``, where a value not given (``None``)
filters nothing.

List services and endpoints each wrote this rule again as a pair of lines per filter
(``if x is not None: query = query.where(...)``); :func:`where_given` is the one body, so an
absent filter means the same everywhere.
"""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import Select

Query = TypeVar("Query", bound=Select[Any])


def where_given(query: Query, *filters: tuple[Any, object]) -> Query:
    """``query`` narrowed by ``column == value`` for each ``(column, value)`` whose value is
    not None, in the order given."""
    return query.where(*(column == value for column, value in filters if value is not None))
