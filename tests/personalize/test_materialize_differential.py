"""A batch's decisions built once per group of equal inputs (``personalize.materialize``) equal
the engine's one-patient materialization (``BatchDecision.decision``), field by field, and
write the same decision rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from tests.personalize.conftest import ALL_CHANNELS, make_snapshot

from careloop.personalize.actions import FRAMINGS, ActionSpace
from careloop.personalize.decision_log import _decision_values
from careloop.personalize.engine import BatchDecision, EngineModel, PopulationBatch, decide_batch
from careloop.personalize.materialize import all_decisions
from careloop.personalize.profile import QuietHours
from careloop.personalize.snapshot import EngineConfig, PatientSnapshot, ProgramSpec

NOW = datetime(2026, 3, 2, 15, tzinfo=UTC)
PLAIN = ProgramSpec(name="flu-shot", purpose="care-gap", languages=frozenset({"en", "es"}))
FRAMED = ProgramSpec(
    name="breast-cancer-screening",
    purpose="care-gap",
    action_space=ActionSpace(framings=FRAMINGS),
)
QUIETS = (None, QuietHours(21 * 60, 8 * 60), QuietHours(18 * 60, 10 * 60), QuietHours(0, 24 * 60))


def _snapshot(k: int) -> PatientSnapshot:
    """Patient ``k`` of a population whose inputs repeat in many combinations (consent,
    contact points, quiet hours, budget, language, stated channel, pronoun, age), with the
    holds among them: deceased, opted out, over budget, no language, nothing allowed."""
    channels = sorted(ALL_CHANNELS)
    return make_snapshot(
        patient_id=f"p{k}",
        timezone=("America/New_York", "America/Los_Angeles", "Asia/Tokyo")[k % 3],
        language=("en-US", "es", "fr")[k % 7 // 3],
        consented=frozenset(channels[: 1 + k % 4]) if k % 11 else frozenset(),
        contacts=frozenset(channels[k % 2 :]),
        quiet=QUIETS[k % 4],
        deceased=k % 29 == 5,
        opted_out=k % 31 == 7,
        recent=tuple(NOW - timedelta(hours=h) for h in range(k % 13 // 4)),
        covariates={"age": 40 + 5 * (k % 5), "has_mobile": k % 2 == 0, "sex": "f"},
        stated_channel=(None, "sms", "email")[k % 3],
        pronoun=("she", "he", "they")[k % 5 % 3],
    )


def _batch(program: ProgramSpec, *, n: int, seed: int, joint: bool) -> BatchDecision:
    config = EngineConfig(joint_channel_window=joint, weekly_budget=2)
    model = EngineModel.new(program.action_space, config)
    snapshots = [_snapshot(k) for k in range(n)]
    population = PopulationBatch.from_snapshots(snapshots, program=program, model=model, now=NOW)
    history = model.empty_history(n)
    rng = np.random.default_rng(seed)
    # Counts the sentences quote: none for some, the same for many, their own for others.
    for i in range(n):
        if i % 4 == 0:
            continue
        source = np.random.default_rng(i % 6 if i % 3 else 100 + i)
        history.pair_sent[i] = source.integers(0, 4, history.pair_sent[i].shape)
        history.pair_responded[i] = np.minimum(
            history.pair_sent[i], source.integers(0, 3, history.pair_sent[i].shape)
        )
        history.sent[i] = source.integers(0, 4, history.sent[i].shape)
        history.responded[i] = np.minimum(
            history.sent[i], source.integers(0, 3, history.sent[i].shape)
        )
    return decide_batch(
        population=population, program=program, history=history, model=model, now=NOW, rng=rng
    )


@pytest.mark.parametrize(
    ("program", "joint"), [(PLAIN, True), (PLAIN, False), (FRAMED, True), (FRAMED, False)]
)
@pytest.mark.parametrize("seed", [1, 2])
def test_every_decision_equals_the_one_patient_path(
    program: ProgramSpec, joint: bool, seed: int
) -> None:
    batch = _batch(program, n=180, seed=seed, joint=joint)
    reference = [batch.decision(i) for i in range(180)]

    grouped = all_decisions(batch)

    assert grouped == reference
    assert [d.explanation for d in grouped] == [d.explanation for d in reference]
    assert [d.options for d in grouped] == [d.options for d in reference]
    assert [d.removals for d in grouped] == [d.removals for d in reference]
    # The population exercises what it is meant to: holds and sends, shared and own parts.
    assert any(d.action is None for d in grouped)
    assert sum(d.action is not None for d in grouped) > 60
    assert len({id(d.options) for d in grouped}) < 180
    assert len({d.explanation for d in grouped}) > 10


def test_shared_parts_write_the_same_decision_rows() -> None:
    batch = _batch(FRAMED, n=120, seed=3, joint=True)
    grouped = all_decisions(batch)
    shared: dict[int, list[dict[str, object]]] = {}

    rows = [_decision_values(d, batch.features[i], shared) for i, d in enumerate(grouped)]

    assert rows == [_decision_values(batch.decision(i), batch.features[i]) for i in range(120)]


def test_an_empty_batch_has_no_decisions() -> None:
    assert all_decisions(_batch(PLAIN, n=0, seed=1, joint=True)) == []
