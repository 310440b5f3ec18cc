"""A candidate engine configuration serves only on evidence from the logged decisions."""

from __future__ import annotations

import json
import uuid
from functools import cache

from typer.testing import CliRunner

from careloop.cli import app
from careloop.models import DecisionRow, ModelStateRow
from careloop.personalize.actions import FACTORS, ActionSpace
from careloop.personalize.promotion import LoggedDecisions, compare, config_to_dict
from careloop.personalize.service import load_model
from careloop.personalize.snapshot import EngineConfig, ProgramSpec
from careloop.runtime import Runtime
from careloop.sim.logs import pilot_logs
from careloop.sim.population import make

runner = CliRunner()
SPACE = ActionSpace()
# a logging engine that explores half the time: a candidate exploring 2 % is clearly better
EXPLORING = EngineConfig(exploration_floor=0.5, joint_channel_window=False, context_features=False)


@cache
def _logs() -> LoggedDecisions:
    return pilot_logs(make(200, 3), touches=12, seed=3, config=EXPLORING)


def test_a_clearly_better_candidate_is_promotable_and_a_worse_one_is_refused():
    logs = _logs()
    better, _ = compare(
        logs,
        space=SPACE,
        running=EXPLORING,
        candidate=EngineConfig(),
        patients=200,
        resamples=300,
    )
    assert better.promotable, better.reasons
    assert better.difference["low"] > 0
    assert better.bootstrap["share_better"] >= 0.975
    worse, _ = compare(
        logs,
        space=SPACE,
        running=EXPLORING,
        candidate=EngineConfig(exploration_floor=0.95),
        patients=200,
        resamples=300,
    )
    assert not worse.promotable
    assert worse.difference["high"] < 0
    assert any("interval" in r for r in worse.reasons)


def test_the_running_configuration_replayed_reproduces_the_logged_propensities():
    """Same settings, same logs, same order: the replay is the logging policy exactly, so the
    comparison with itself has zero difference and no evidence."""
    same, _ = compare(
        _logs(), space=SPACE, running=EXPLORING, candidate=EXPLORING, patients=200, resamples=100
    )
    assert same.running["ess"] == same.decisions
    assert same.difference["value"] == 0.0
    assert not same.promotable


def test_too_few_decisions_is_no_evidence():
    logs = _logs()
    keep = logs.day < 2
    small = LoggedDecisions(
        patient=logs.patient[keep],
        features=logs.features[keep],
        masks=tuple(m[keep] for m in logs.masks),
        choices=logs.choices[keep],
        propensity=logs.propensity[keep],
        rewards=logs.rewards[keep],
        day=logs.day[keep],
        times=logs.times[:2],
    )
    result, _ = compare(
        small,
        space=SPACE,
        running=EXPLORING,
        candidate=EngineConfig(),
        patients=200,
        min_decisions=1000,
        resamples=100,
    )
    assert not result.promotable
    assert any("resolved decisions" in r for r in result.reasons)


def _store_logs(rt: Runtime, logs: LoggedDecisions) -> None:
    with rt.transaction() as session:
        for i in range(logs.n):
            options = [
                {
                    "factor": factor,
                    "value": value,
                    "feasible": bool(logs.masks[f][i, k]),
                    "probability": 0.0,
                }
                for f, (factor, values) in enumerate(SPACE.factors)
                for k, value in enumerate(values)
            ]
            action = SPACE.action(logs.choices[i])
            session.add(
                DecisionRow(
                    id=str(uuid.uuid4()),
                    patient_id=f"sim-{int(logs.patient[i]):04d}",
                    program="pilot",
                    decided_at=logs.times[int(logs.day[i])],
                    channel=action.channel,
                    send_window=action.send_window,
                    reading_level=action.reading_level,
                    tone=action.tone,
                    language="en",
                    propensity=float(logs.propensity[i]),
                    factor_propensities=dict.fromkeys(FACTORS, 0.0),
                    options=options,
                    removals=[],
                    features=[float(x) for x in logs.features[i]],
                    explanation="",
                    explored=False,
                    model_version="t",
                    reward=float(logs.rewards[i]),
                )
            )
        session.add(
            ModelStateRow(
                program="pilot",
                state={"engine_config": config_to_dict(EXPLORING)},
                version="t",
                updated_at=rt.clock.now(),
            )
        )


def test_cli_refuses_without_evidence_and_promotes_with_it(rt: Runtime, database_url: str):
    _store_logs(rt, _logs())
    base = ["engine", "promote", "--program", "pilot", "--database", database_url]
    refused = runner.invoke(app, [*base, "--set", "exploration_floor=0.95"])
    assert refused.exit_code != 0
    assert "promotion refused" in refused.output
    assert "Traceback" not in refused.output
    with rt.transaction() as session:
        model = load_model(session, program=ProgramSpec(name="pilot", purpose="pilot"))
        assert model.config.exploration_floor == 0.5  # still the running one
        row = session.get(ModelStateRow, "pilot")
        assert row is not None
        assert row.state["comparison"]["promoted"] is False

    granted = runner.invoke(app, [*base, "--set", "exploration_floor=0.02", "--json"])
    assert granted.exit_code == 0, granted.output
    result = json.loads(granted.output)
    assert result["promoted"] is True
    assert result["difference"]["low"] > 0
    with rt.transaction() as session:
        serving = EngineConfig(weekly_budget=7)
        spec = ProgramSpec(name="pilot", purpose="pilot")
        model = load_model(session, program=spec, config=serving)
    assert model.config.exploration_floor == 0.02
    assert model.config.weekly_budget == 7  # the contact budget stays the caller's
    assert model.pooled.updates > 0  # it serves with what it learned from the same logs


def test_cli_names_a_bad_setting(database_url: str):
    result = runner.invoke(
        app,
        ["engine", "compare", "--program", "pilot", "--set", "bogus=1", "--database", database_url],
    )
    assert result.exit_code != 0
    assert "bogus" in result.output or "resolved decisions" in result.output
    assert "Traceback" not in result.output
