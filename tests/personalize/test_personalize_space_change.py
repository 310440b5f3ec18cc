"""Learning stored under one action space read under another: a program narrowed to SMS
(the demo's check-in pilot) or widened with a framing made every later decision and the
console patient page fail ("could not broadcast (10,) into (13,)")."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from careloop.personalize.actions import ActionSpace
from careloop.personalize.history import HistorySummary

ALL_CHANNELS = ("sms", "email", "voice", "portal")
ALL_WINDOWS = ("08-11", "11-14", "14-17", "17-20")


def _learned(space: ActionSpace, seed: int = 0) -> dict[str, Any]:
    """One patient's stored state in ``space`` with distinct numbers everywhere."""
    h = HistorySummary.empty(1, space, prior_precision=1.0)
    rng = np.random.default_rng(seed)
    v = h.offset_mean.shape[1]
    h.offset_mean[0] = rng.normal(size=v)
    h.sent[0] = rng.integers(1, 9, size=v)
    h.responded[0] = np.minimum(h.sent[0], rng.integers(0, 9, size=v))
    h.pair_sent[0] = rng.integers(1, 9, size=h.pair_sent.shape[1:])
    h.pair_mean[0] = rng.normal(size=h.pair_mean.shape[1])
    h.updated_at[0] = 1_700_000_000.0
    row = h.row_json(0)
    row["space"] = [list(values) for _, values in space.factors]
    return row


def _value_index(space: ActionSpace, factor: str, value: str) -> int:
    flat = [(f, x) for f, values in space.factors for x in values]
    return flat.index((factor, value))


def test_a_narrowed_program_s_learning_reads_into_the_full_space() -> None:
    sms_only = ActionSpace(channels=("sms",))
    full = ActionSpace()
    stored = _learned(sms_only)

    read = HistorySummary.from_rows([stored], full, prior_precision=1.0)

    assert read.offset_mean.shape[1] == sum(full.sizes)
    for factor, values in sms_only.factors:
        for value in values:
            old, new = _value_index(sms_only, factor, value), _value_index(full, factor, value)
            assert read.offset_mean[0, new] == stored["offset_mean"][old]
            assert read.sent[0, new] == stored["sent"][old]
    voice = _value_index(full, "channel", "voice")
    assert read.offset_mean[0, voice] == 0.0  # never offered: the prior
    assert read.sent[0, voice] == 0.0
    assert read.pair_sent[0, 0].tolist() == stored["pair_sent"][0]  # sms row of cells
    assert read.pair_sent[0, 2].sum() == 0.0
    assert read.updated_at[0] == stored["updated_at"]


def test_the_same_space_reads_back_unchanged() -> None:
    full = ActionSpace()
    stored = _learned(full, seed=3)
    read = HistorySummary.from_rows([stored], full, prior_precision=1.0)
    assert read.offset_mean[0].tolist() == stored["offset_mean"]
    assert read.pair_mean[0].tolist() == stored["pair_mean"]


def test_a_row_of_unknown_space_that_does_not_fit_starts_fresh() -> None:
    stored = _learned(ActionSpace(channels=("sms",)))
    del stored["space"]
    read = HistorySummary.from_rows([stored], ActionSpace(), prior_precision=1.0)
    assert not read.offset_mean.any()
    assert not read.sent.any()


@settings(max_examples=40, deadline=None)
@given(
    old_channels=st.lists(st.sampled_from(ALL_CHANNELS), min_size=1, unique=True),
    new_channels=st.lists(st.sampled_from(ALL_CHANNELS), min_size=1, unique=True),
    old_windows=st.lists(st.sampled_from(ALL_WINDOWS), min_size=1, unique=True),
    new_windows=st.lists(st.sampled_from(ALL_WINDOWS), min_size=1, unique=True),
)
def test_what_is_known_of_a_value_still_offered_is_kept(
    old_channels: list[str],
    new_channels: list[str],
    old_windows: list[str],
    new_windows: list[str],
) -> None:
    old = ActionSpace(channels=tuple(old_channels), send_windows=tuple(old_windows))
    new = ActionSpace(channels=tuple(new_channels), send_windows=tuple(new_windows))
    stored = _learned(old, seed=len(old_channels) * 7 + len(old_windows))

    read = HistorySummary.from_rows([stored], new, prior_precision=1.0)

    for factor, values in new.factors:
        for value in values:
            j = _value_index(new, factor, value)
            kept = dict(old.factors)[factor]
            expected = stored["sent"][_value_index(old, factor, value)] if value in kept else 0
            assert read.sent[0, j] == expected
    for c, ch in enumerate(new_channels):
        for w, win in enumerate(new_windows):
            known = ch in old_channels and win in old_windows
            expected = (
                stored["pair_sent"][old_channels.index(ch)][old_windows.index(win)] if known else 0
            )
            assert read.pair_sent[0, c, w] == expected
