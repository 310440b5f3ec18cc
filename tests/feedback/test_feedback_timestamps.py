"""An instant's reading: FHIR asks for the 'T'; a person at a command line may type a space."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from careloop.errors import InvalidInput
from careloop.feedback.timestamps import parse_instant


def test_a_fhir_date_time_needs_its_t_and_zone() -> None:
    assert parse_instant("2031-03-01T09:00:00+02:00", field="effective") == datetime(
        2031, 3, 1, 7, tzinfo=UTC
    )
    for bad in ("2031-03-01 09:00+02:00", "2031-03-01T09:00:00", "soon", 5):
        with pytest.raises(InvalidInput, match="effective"):
            parse_instant(bad, field="effective")


def test_a_typed_date_time_may_use_a_space_but_still_needs_a_zone() -> None:
    moment = parse_instant("2031-03-01 09:00+02:00", field="--until", space_for_t=True)
    assert moment == datetime(2031, 3, 1, 7, tzinfo=UTC)
    for bad in ("2031-03-01 09:00", "next week"):
        with pytest.raises(InvalidInput, match="--until"):
            parse_instant(bad, field="--until", space_for_t=True)
