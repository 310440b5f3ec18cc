"""Win probabilities computed once per distinct row equal each row's own quadrature."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from careloop.personalize import sampling
from careloop.personalize.sampling import pruned_win_probabilities


@st.composite
def _batches(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    k = draw(st.integers(1, 6))
    distinct = draw(st.integers(1, 5))
    means = draw(hnp.arrays(np.float64, (distinct, k), elements=st.floats(-3, 3)))
    sds = draw(hnp.arrays(np.float64, (distinct, k), elements=st.floats(0.01, 2)))
    masks = draw(hnp.arrays(np.bool_, (distinct, k)))
    picks = draw(st.lists(st.integers(0, distinct - 1), min_size=1, max_size=30))
    return means[picks], sds[picks], masks[picks]


@given(batch=_batches(), nodes=st.sampled_from([8, 24]))
@settings(max_examples=150, deadline=None)
def test_each_row_gets_the_probabilities_it_gets_alone(
    batch: tuple[np.ndarray, np.ndarray, np.ndarray], nodes: int
) -> None:
    mean, sd, mask = batch
    together = pruned_win_probabilities(mean, sd, mask, nodes=nodes)
    alone = [
        pruned_win_probabilities(mean[i : i + 1], sd[i : i + 1], mask[i : i + 1], nodes=nodes)[0]
        for i in range(mean.shape[0])
    ]
    # Bit for bit: a logged propensity must not depend on who else is in the batch.
    np.testing.assert_array_equal(together, np.array(alone))


def test_equal_rows_are_integrated_once(monkeypatch: pytest.MonkeyPatch) -> None:
    widths: list[int] = []
    inner = sampling.win_probabilities

    def counting(mean: np.ndarray, *args: object, **kwargs: object) -> np.ndarray:
        widths.append(mean.shape[0])
        return inner(mean, *args, **kwargs)  # type: ignore[arg-type]

    mean = np.tile([[0.1, 0.2, 0.15]], (500, 1))
    sd = np.full((500, 3), 0.5)
    mask = np.ones((500, 3), dtype=bool)
    monkeypatch.setattr(sampling, "win_probabilities", counting)
    out = pruned_win_probabilities(mean, sd, mask, nodes=24)
    assert widths == [1]  # one row integrated for the 500 equal ones
    assert out.shape == (500, 3)
    np.testing.assert_array_equal(out, np.tile(out[0], (500, 1)))
