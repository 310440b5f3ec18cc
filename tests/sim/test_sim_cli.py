"""The simulate command: its JSON contract, plug-in populations and clean errors."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from careloop.cli import app

runner = CliRunner()


def test_simulate_json_has_the_contract_keys_per_policy():
    result = runner.invoke(
        app,
        [
            "simulate",
            "--patients",
            "200",
            "--touches",
            "10",
            "--seed",
            "1",
            "--policy",
            "static",
            "--policy",
            "bandit",
            "--policy",
            "oracle",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert set(report["policies"]) == {"static", "bandit", "oracle"}
    for figures in report["policies"].values():
        assert len(figures["per_touch"]) == 10
        assert len(figures["oracle_ratio"]) == 10
        assert 0 <= figures["cumulative"] <= 1
        assert figures["decisions_per_s"] > 0
    assert report["policies"]["oracle"]["oracle_ratio"] == [1.0] * 10


def test_simulate_is_reproducible_with_a_seed():
    args = [
        "simulate",
        "--patients",
        "50",
        "--touches",
        "3",
        "--seed",
        "7",
        "--policy",
        "bandit",
        "--json",
    ]
    first = json.loads(runner.invoke(app, args).output)
    second = json.loads(runner.invoke(app, args).output)
    assert first["policies"]["bandit"]["per_touch"] == second["policies"]["bandit"]["per_touch"]


def test_simulate_accepts_a_plug_in_population():
    result = runner.invoke(
        app,
        [
            "simulate",
            "--patients",
            "30",
            "--touches",
            "2",
            "--seed",
            "1",
            "--policy",
            "random",
            "--population",
            "examples.populations.alt:make",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["population"] == "examples.populations.alt:make"


def test_simulate_rejects_unknown_policy_and_population_in_one_line():
    bad_policy = runner.invoke(app, ["simulate", "--patients", "5", "--policy", "psychic"])
    bad_population = runner.invoke(
        app, ["simulate", "--patients", "5", "--population", "nowhere.at.all:make"]
    )
    assert bad_policy.exit_code == 2
    assert "unknown policy" in bad_policy.output
    assert bad_population.exit_code == 2
    assert "cannot import" in bad_population.output


def test_the_engine_learns_to_beat_random_within_ten_touches():
    result = runner.invoke(
        app,
        [
            "simulate",
            "--patients",
            "200",
            "--touches",
            "10",
            "--seed",
            "2",
            "--policy",
            "random",
            "--policy",
            "bandit",
            "--json",
        ],
    )
    figures = json.loads(result.output)["policies"]
    assert figures["bandit"]["per_touch"][-1] > figures["random"]["per_touch"][-1]
