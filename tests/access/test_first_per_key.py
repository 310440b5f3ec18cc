"""``first_per_key``: the one rule behind "distinct times" and "the best time at each place"."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from careloop.access.finder import Offer, distinct_times, first_per_key

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _offer(slot: int, hour: int, telehealth: bool) -> Offer:
    start = START + timedelta(hours=hour)
    mode = "telehealth" if telehealth else "in-person"
    return Offer(f"s{slot}", start, start + timedelta(minutes=20), mode, False, "fits")


offers = st.lists(
    st.builds(_offer, st.integers(0, 20), st.integers(0, 3), st.booleans()), max_size=30
)


@given(offers, st.integers(1, 4))
def test_keeps_the_first_of_each_key_in_order(found: list[Offer], modulus: int) -> None:
    def key(offer: Offer) -> int:
        return int(offer.slot[1:]) % modulus

    kept = first_per_key(found, key)
    assert [key(o) for o in kept] == list(dict.fromkeys(key(o) for o in found))
    assert kept == [o for i, o in enumerate(found) if key(o) not in map(key, found[:i])]


@given(offers)
def test_distinct_times_names_each_start_and_mode_once(found: list[Offer]) -> None:
    kept = distinct_times(found)
    assert len({(o.start, o.mode) for o in kept}) == len(kept)
    assert {(o.start, o.mode) for o in kept} == {(o.start, o.mode) for o in found}
