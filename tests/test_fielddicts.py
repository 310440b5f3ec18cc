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


def test_the_reports_that_read_their_fields_keep_their_json() -> None:
    from careloop.governance.consent_fhir import ConsentSyncSummary
    from careloop.governance.erasure import KEPT_TABLES, ErasureReport
    from careloop.records.fhir_reader import Rejection
    from careloop.records.line_types import LineTypeReport

    lines = LineTypeReport(looked_up=3, cached=1, types={"mobile": 2, "landline": 1}).as_dict()
    assert list(lines.items()) == [
        ("looked_up", 3),
        ("cached", 1),
        ("failed", 0),
        ("types", {"landline": 1, "mobile": 2}),
    ]
    assert list(lines["types"]) == ["landline", "mobile"]
    erased = ErasureReport("p1", "x9", deleted={"outbox": 2, "bookings": 1}).as_dict()
    assert list(erased) == ["patient_id", "pseudonym", "deleted", "pseudonymized_events", "kept"]
    assert list(erased["deleted"]) == ["bookings", "outbox"]
    assert erased["kept"] == sorted(KEPT_TABLES)
    assert Rejection("a.ndjson", 4, "not JSON").as_dict() == {
        "file": "a.ndjson",
        "entry": 4,
        "reason": "not JSON",
    }
    assert list(ConsentSyncSummary(consents=2).as_dict().items()) == [
        ("consents", 2),
        ("records", 0),
        ("skipped", {}),
    ]
