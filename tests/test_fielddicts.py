"""field_dict: the fields in declaration order, shallow, changed ones in their place."""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import given
from hypothesis import strategies as st

from careloop.fielddicts import field_dict


@dataclass(frozen=True, slots=True)
class _Row:
    name: str
    score: float
    tags: list[str] = field(default_factory=list)
    inner: dict[str, int] = field(default_factory=dict)


_rows = st.builds(
    _Row,
    name=st.text(max_size=5),
    score=st.floats(allow_nan=False),
    tags=st.lists(st.text(max_size=3), max_size=3),
    inner=st.dictionaries(st.text(max_size=3), st.integers(), max_size=3),
)


@given(_rows)
def test_every_field_in_declaration_order_and_the_same_objects(row: _Row) -> None:
    out = field_dict(row)
    assert list(out) == ["name", "score", "tags", "inner"]
    assert out == {"name": row.name, "score": row.score, "tags": row.tags, "inner": row.inner}
    # Shallow, as the hand-written bodies were: no copies (dataclasses.asdict copies).
    assert out["tags"] is row.tags
    assert out["inner"] is row.inner


@given(_rows, st.integers())
def test_a_changed_field_keeps_its_place_and_an_extra_key_comes_last(row: _Row, n: int) -> None:
    out = field_dict(row, score=round(row.score, 2), count=n)
    assert list(out) == ["name", "score", "tags", "inner", "count"]
    assert out["score"] == round(row.score, 2)
    assert out["count"] == n
    assert out["name"] == row.name
