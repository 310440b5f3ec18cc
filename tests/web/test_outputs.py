"""API answers filled from a row's attributes by the answer's own field names."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from pydantic import BaseModel, ValidationError

from careloop.web.api.outputs import from_attributes


class GrantAnswer(BaseModel):
    id: int
    scopes: list[str]
    granted_at: datetime
    revoked_at: datetime | None


ROW = SimpleNamespace(
    id=7,
    scopes=("messages", "record"),
    granted_at=datetime(2026, 3, 2, 15, 0, tzinfo=UTC),
    revoked_at=None,
    caregiver_secret="not in the answer",
)


def test_every_field_is_read_from_the_attribute_of_its_name_and_nothing_else() -> None:
    answer = from_attributes(GrantAnswer, ROW)
    assert answer.model_dump() == {
        "id": 7,
        "scopes": ["messages", "record"],
        "granted_at": datetime(2026, 3, 2, 15, 0, tzinfo=UTC),
        "revoked_at": None,
    }


def test_a_given_value_replaces_the_attribute() -> None:
    answer = from_attributes(GrantAnswer, ROW, scopes=["portal"])
    assert answer.scopes == ["portal"]


def test_a_row_without_a_field_of_the_answer_is_refused_not_filled_with_a_default() -> None:
    with pytest.raises(AttributeError):
        from_attributes(GrantAnswer, SimpleNamespace(id=7, scopes=[], revoked_at=None))


def test_the_answer_still_validates_what_it_reads() -> None:
    with pytest.raises(ValidationError):
        from_attributes(GrantAnswer, ROW, granted_at="not a time")
