"""``benchmarks/oracle_gap.py`` puts the engine's loss to the oracle on the choice that made it.

The split is what the fifth pass of ``docs/personalize.md`` reads its conclusions from, so a
loss on the tone must not show up as a loss on the channel x window cell, and a best cell the
patient was never sent must not count as one tried and left.
"""

from __future__ import annotations

from types import ModuleType

import numpy as np
import pytest
from tests.scripts import load_benchmark


@pytest.fixture(scope="module")
def gap() -> ModuleType:
    return load_benchmark("oracle_gap")


def _touch(
    truth: np.ndarray, choices: list[list[int]], sent: np.ndarray, replied: np.ndarray
) -> tuple[np.ndarray, ...]:
    n = truth.shape[0]
    zeros = np.zeros((n, 4, 4))
    return (
        truth.reshape(n, -1),
        np.ones((n, 96), dtype=bool),
        np.asarray(choices),
        sent,
        replied,
        zeros,
        zeros,
    )


def test_a_wrong_tone_is_the_tones_loss_and_nothing_else(gap: ModuleType) -> None:
    truth = np.full((2, 4, 4, 3, 2), 0.2)
    truth[:, 1, 2, 0, 0] = 0.6  # the best action of both patients
    truth[:, 1, 2, 0, 1] = 0.5  # same cell and reading level, the other tone
    counts = np.ones((2, 4, 4))
    record = _touch(truth, [[1, 2, 0, 0], [1, 2, 0, 1]], counts, counts)

    out = gap.split_gap([record])

    assert out["gap"] == pytest.approx(0.1 / 1.2, abs=1e-4)
    assert out["tone"] == pytest.approx(out["gap"], abs=1e-4)
    assert out["cell"] == 0.0
    assert out["reading"] == 0.0


def test_a_best_cell_never_sent_is_untried_and_a_left_one_is_judged_by_its_replies(
    gap: ModuleType,
) -> None:
    truth = np.full((2, 4, 4, 3, 2), 0.2)
    truth[:, 3, 0] = 0.6  # best cell (portal, morning), whatever the wording
    sent = np.zeros((2, 4, 4))
    replied = np.zeros((2, 4, 4))
    sent[:, 0, 0] = 10  # both were sent the chosen cell 10 times, 3 replies
    replied[:, 0, 0] = 3
    sent[1, 3, 0], replied[1, 3, 0] = 4, 2  # patient 1 tried the best cell: 2 of 4 replied
    record = _touch(truth, [[0, 0, 0, 0], [0, 0, 0, 0]], sent, replied)

    out = gap.split_gap([record])

    assert out["cell"] == pytest.approx(out["gap"], abs=1e-4)
    assert out["untried"] == pytest.approx(out["gap"] / 2, abs=1e-4)
    assert out["tried_data_for"] == pytest.approx(out["gap"] / 2, abs=1e-4)
    assert out["tried_data_against"] == 0.0
    assert out["tried_best_times"] == 4.0
    assert out["chosen_reply_rate"] == 0.3
