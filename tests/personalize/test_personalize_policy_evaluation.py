"""``careloop ope`` and ``careloop decide``: policies evaluated from logged decisions."""

from __future__ import annotations

import json
import uuid

from tests.conftest import FIXTURES
from typer.testing import CliRunner

from careloop.cli import app
from careloop.models import DecisionRow
from careloop.personalize.evaluation import evaluate_policies
from careloop.runtime import Runtime

runner = CliRunner()


def _options(sms: float) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = [
        {"factor": "channel", "value": "sms", "feasible": True, "probability": sms},
        {"factor": "channel", "value": "email", "feasible": True, "probability": 1 - sms},
        {"factor": "channel", "value": "voice", "feasible": False, "probability": 0.0},
    ]
    for factor, value in (("send_window", "17-20"), ("reading_level", "basic"), ("tone", "formal")):
        rows.append({"factor": factor, "value": value, "feasible": True, "probability": 1.0})
    return rows


def _log(rt: Runtime, *, channel: str, reward: float, sms: float = 0.5) -> None:
    with rt.transaction() as session:
        session.add(
            DecisionRow(
                id=str(uuid.uuid4()),
                patient_id="p1",
                program="prog",
                decided_at=rt.clock.now(),
                channel=channel,
                send_window="17-20",
                reading_level="basic",
                tone="formal",
                language="en",
                propensity=sms if channel == "sms" else 1 - sms,
                factor_propensities={},
                options=_options(sms),
                removals=[],
                features=[],
                explanation="",
                explored=False,
                model_version="t",
                reward=reward,
            )
        )


def test_ips_of_the_logging_policy_is_the_observed_mean_and_sms_wins(rt: Runtime) -> None:
    for _ in range(10):
        _log(rt, channel="sms", reward=1.0)
        _log(rt, channel="email", reward=0.0)
    with rt.transaction() as session:
        result = evaluate_policies(
            session, program="prog", policies=["logging", "channel=sms", "channel=email"]
        )
    policies = result["policies"]
    assert result["decisions"] == 20
    assert policies["logging"]["ips"]["value"] == 0.5
    assert policies["channel=sms"]["snips"]["value"] == 1.0
    assert policies["channel=email"]["snips"]["value"] == 0.0


def test_an_unknown_policy_is_a_clear_cli_error(database_url: str) -> None:
    result = runner.invoke(
        app, ["ope", "--program", "prog", "--policy", "bogus", "--database", database_url]
    )
    assert result.exit_code == 2
    assert "unknown policy" in result.output


def test_decide_explains_the_next_decision_for_a_patient(database_url: str) -> None:
    imported = runner.invoke(
        app, ["import", str(FIXTURES / "fhir" / "good_bundle.json"), "--database", database_url]
    )
    assert imported.exit_code == 0
    result = runner.invoke(app, ["decide", "fx-pat-1", "--database", database_url, "--json"])
    assert result.exit_code == 0, result.output
    decision = json.loads(result.stdout)
    assert decision["explanation"]
    assert 0 < decision["propensity"] <= 1
    assert runner.invoke(app, ["decide", "nobody", "--database", database_url]).exit_code == 2
