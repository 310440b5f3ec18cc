"""where_given: a filter given narrows the read; a filter not given (None) filters nothing."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Column, Integer, MetaData, String, Table, create_engine, insert, select

from careloop.queryfilters import where_given

_rows = Table(
    "rows",
    MetaData(),
    Column("id", Integer, primary_key=True),
    Column("colour", String),
    Column("size", String),
)
_engine = create_engine("sqlite://")
_rows.metadata.create_all(_engine)
_COLOURS, _SIZES = ["red", "blue"], ["s", "m", "l"]
with _engine.begin() as connection:
    connection.execute(
        insert(_rows), [{"colour": c, "size": s} for c in _COLOURS for s in _SIZES for _ in "ab"]
    )

_maybe_colour = st.one_of(st.none(), st.sampled_from([*_COLOURS, "green"]))
_maybe_size = st.one_of(st.none(), st.sampled_from(_SIZES))


@given(_maybe_colour, _maybe_size)
def test_each_given_filter_narrows_and_none_filters_nothing(
    colour: str | None, size: str | None
) -> None:
    query = where_given(
        select(_rows.c.colour, _rows.c.size), (_rows.c.colour, colour), (_rows.c.size, size)
    )
    with _engine.connect() as connection:
        found = [tuple(row) for row in connection.execute(query)]
        every = [tuple(row) for row in connection.execute(select(_rows.c.colour, _rows.c.size))]
    assert found == [(c, s) for c, s in every if colour in (None, c) and size in (None, s)]
