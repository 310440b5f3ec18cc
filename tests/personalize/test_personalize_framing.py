"""Framing as a learned factor: a stated motivation leads, replies decide (issue 25 item 3)."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from tests.personalize.conftest import make_snapshot

from careloop.errors import InvalidInput
from careloop.models import DecisionRow
from careloop.personalize.actions import FRAMINGS, Action, ActionSpace
from careloop.personalize.engine import EngineModel, PopulationBatch, decide, decide_batch
from careloop.personalize.evaluation import evaluate_policies
from careloop.personalize.model import update_posteriors
from careloop.personalize.profile import StatedPreferences
from careloop.personalize.snapshot import ProgramSpec
from careloop.runtime import Runtime

NOW = datetime(2026, 3, 2, 12, tzinfo=UTC)
SPACE = ActionSpace(framings=FRAMINGS)
PROGRAM = ProgramSpec(name="breast-cancer-screening", purpose="care-gap", action_space=SPACE)
MOVED = ("gain", "loss", "social", "convenience")


def _population(n: int, seed: int) -> tuple[list[object], np.ndarray, list[str | None]]:
    """Patients who each answer one framing far more than the others; two in three said
    what matters most to them, and one in five of those said something else."""
    rng = np.random.default_rng(seed)
    taste = rng.integers(1, 5, n)  # an index into FRAMINGS, never "plain"
    stated: list[str | None] = []
    for i in range(n):
        if rng.random() < 1 / 3:
            stated.append(None)
        elif rng.random() < 0.8:
            stated.append(FRAMINGS[taste[i]])
        else:
            stated.append(MOVED[(int(taste[i]) + 1) % 4])
    snapshots = [
        replace(
            make_snapshot(patient_id=f"p-{i}"),
            stated=StatedPreferences(framing=stated[i]),
        )
        for i in range(n)
    ]
    return snapshots, taste, stated


def _run(n: int = 300, rounds: int = 24) -> tuple[list[np.ndarray], np.ndarray, list[str | None]]:
    snapshots, taste, stated = _population(n, seed=5)
    model = EngineModel.new(SPACE)
    history = model.empty_history(n)
    rng = np.random.default_rng(7)
    chosen: list[np.ndarray] = []
    for r in range(rounds):
        now = NOW + timedelta(days=7 * r)
        population = PopulationBatch.from_snapshots(
            snapshots, program=PROGRAM, model=model, now=now
        )
        batch = decide_batch(
            population=population,
            program=PROGRAM,
            history=history,
            model=model,
            now=now,
            rng=rng,
        )
        framing = batch.choices[:, 4]
        chosen.append(framing)
        p = np.where(framing == taste, 0.55, 0.12)
        update_posteriors(
            pooled=model.pooled,
            history=history,
            features=batch.features,
            rows=np.arange(n),
            choices=batch.choices,
            rewards=(rng.random(n) < p).astype(np.float64),
            at=now + timedelta(days=1),
            config=model.config,
        )
    return chosen, taste, stated


@pytest.fixture(scope="module")
def learned() -> tuple[list[np.ndarray], np.ndarray, list[str | None]]:
    return _run()


def test_a_stated_motivation_leads_before_any_reply(learned) -> None:
    chosen, _taste, stated = learned
    said = np.array([s is not None for s in stated])
    match = np.array(
        [s is not None and FRAMINGS[c] == s for s, c in zip(stated, chosen[0], strict=True)]
    )
    assert match[said].mean() >= 0.9  # chance is 1 in 5


def test_each_patient_s_framing_is_learned_from_replies(learned) -> None:
    chosen, taste, stated = learned
    late = np.stack(chosen[-4:])
    hit = (late == taste[None, :]).mean(axis=0)
    assert hit.mean() >= 0.8
    silent = np.array([s is None for s in stated])
    assert hit[silent].mean() >= 0.75  # learned without being told
    wrong = np.array(
        [s is not None and FRAMINGS[t] != s for s, t in zip(stated, taste, strict=True)]
    )
    assert hit[wrong].mean() >= 0.7  # the replies overturned what they said


def test_the_decision_says_why_it_is_framed_so() -> None:
    model = EngineModel.new(SPACE)
    snapshot = replace(make_snapshot(), stated=StatedPreferences(framing="social"))
    sentences = {
        decide(
            snapshot=snapshot,
            program=PROGRAM,
            history=None,
            model=model,
            now=NOW,
            rng=np.random.default_rng(seed),
        ).explanation
        for seed in range(40)
    }
    assert any("framed around family because she said family matters most" in s for s in sentences)


def test_programs_without_framings_keep_four_factors() -> None:
    decision = decide(
        snapshot=make_snapshot(),
        program=ProgramSpec(name="flu-shot", purpose="care-gap"),
        history=None,
        model=EngineModel.new(ActionSpace()),
        now=NOW,
        rng=np.random.default_rng(1),
    )
    assert decision.action is not None
    assert "framing" not in decision.action.as_dict()
    assert set(decision.factor_propensities) == {"channel", "send_window", "reading_level", "tone"}


def test_an_unknown_framing_names_the_field() -> None:
    with pytest.raises(InvalidInput) as caught:
        ActionSpace.from_config({"framings": ["plain", "fear"]})
    assert caught.value.field == "actions.framings"
    with pytest.raises(InvalidInput) as caught:
        StatedPreferences(framing="fear")
    assert caught.value.field == "framing"
    assert SPACE.indices(Action("sms", "08-11", "basic", "formal")) == (0, 0, 0, 1, 0)


def _log_framed(rt: Runtime, *, framing: str, reward: float) -> None:
    options = [
        {"factor": f, "value": v, "feasible": True, "probability": 1.0}
        for f, v in (("channel", "sms"), ("send_window", "17-20"), ("reading_level", "basic"),
                     ("tone", "formal"))
    ] + [
        {"factor": "framing", "value": v, "feasible": True, "probability": 0.5}
        for v in ("social", "gain")
    ]  # fmt: skip
    with rt.transaction() as session:
        session.add(
            DecisionRow(
                id=str(uuid.uuid4()), patient_id="p1", program="framed", decided_at=NOW,
                channel="sms", send_window="17-20", reading_level="basic", tone="formal",
                framing=framing, language="en", propensity=0.5, factor_propensities={},
                options=options, removals=[], features=[], explanation="", explored=False,
                model_version="t", reward=reward,
            )
        )  # fmt: skip


def test_off_policy_values_count_the_framing_draw(rt: Runtime) -> None:
    for _ in range(10):
        _log_framed(rt, framing="social", reward=1.0)
        _log_framed(rt, framing="gain", reward=0.0)
    with rt.transaction() as session:
        result = evaluate_policies(
            session, program="framed", policies=["logging", "framing=social", "framing=gain"]
        )
    ips = {name: report["ips"]["value"] for name, report in result["policies"].items()}
    assert ips == pytest.approx({"logging": 0.5, "framing=social": 1.0, "framing=gain": 0.0})
