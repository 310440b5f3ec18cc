"""Profiles, decisions and learning through the service and the CLI, on both databases."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import numpy as np
import pytest
from sqlalchemy import select
from tests.personalize.conftest import PROGRAM, make_snapshot
from typer.testing import CliRunner

from careloop.cli import app
from careloop.events import EventKind, list_events, record_event
from careloop.models import DecisionRow, Event
from careloop.personalize.decision_log import record_decision, record_decisions
from careloop.personalize.engine import EngineModel, decide
from careloop.personalize.service import (
    get_profile,
    learn_from_events,
    list_decisions,
    load_model,
    set_stated_preferences,
)


def test_stated_preferences_are_saved_and_logged(rt):
    with rt.transaction() as session:
        set_stated_preferences(
            session,
            clock=rt.clock,
            patient_id="p-1",
            changes={"channel": "sms", "send_window": "17-20", "quiet_hours": "22-07"},
            actor="nurse-1",
        )
    with rt.transaction() as session:
        profile = get_profile(session, patient_id="p-1")
        events = list_events(session, patient_id="p-1", kinds=[EventKind.PREFERENCE_CHANGED])
    assert profile.stated.channel == "sms"
    assert profile.stated.quiet_hours is not None
    assert profile.stated.quiet_hours.label == "22-07"
    assert events[0].actor == "nurse-1"


def test_a_reply_in_the_event_log_teaches_the_engine(rt):
    model = EngineModel.new(PROGRAM.action_space)
    snapshot = make_snapshot(patient_id="p-2")
    now = rt.clock.now()
    decision = decide(
        snapshot=snapshot,
        program=PROGRAM,
        history=None,
        model=model,
        now=now,
        rng=np.random.default_rng(0),
    )
    features = model.featurizer.row(snapshot.covariates, snapshot.stated)
    with rt.transaction() as session:
        record_decision(session, clock=rt.clock, decision=decision, features=features.tolist())
    assert decision.send_at is not None
    rt.clock.set(decision.send_at + timedelta(hours=1))
    with rt.transaction() as session:
        record_event(
            session,
            kind=EventKind.REPLIED,
            clock=rt.clock,
            actor="sms",
            patient_id="p-2",
            subject_type="decision",
            subject_id=decision.decision_id,
        )
        summary = learn_from_events(session, clock=rt.clock, program=PROGRAM)
    with rt.transaction() as session:
        profile = get_profile(session, patient_id="p-2")
        stored = list_decisions(session, patient_id="p-2")
        learned_model = load_model(session, program=PROGRAM)
    assert summary == {"learned": 1, "engaged": 1, "pending": 0}
    assert decision.action is not None
    channel = profile.learned["flu-shot"]["channel"][decision.action.channel]
    assert (channel.sent, channel.responded) == (1, 1)
    assert channel.offset_mean > 0
    assert stored[0].reward == 1.0
    assert stored[0].propensity == decision.propensity
    assert learned_model.pooled.updates == 1


def test_preferences_cli_sets_and_shows(tmp_path):
    database = f"sqlite:///{tmp_path / 'cli.db'}"
    runner = CliRunner()
    result = runner.invoke(
        app,
        [
            "preferences",
            "set",
            "p-9",
            "--channel",
            "email",
            "--window",
            "08-11",
            "--tone",
            "formal",
            "--database",
            database,
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    shown = runner.invoke(app, ["preferences", "show", "p-9", "--database", database, "--json"])
    assert '"channel": "email"' in shown.output
    assert '"tone": "formal"' in shown.output


def test_preferences_cli_rejects_an_unknown_channel_in_one_line(tmp_path):
    database = f"sqlite:///{tmp_path / 'cli.db'}"
    result = CliRunner().invoke(
        app, ["preferences", "set", "p-9", "--channel", "fax", "--database", database]
    )
    assert result.exit_code == 2
    assert "unknown channel" in result.output
    assert "Traceback" not in result.output


def _decided(rt, prefix):
    """The decision rows and ``decided`` events of patients ``prefix*``, without ids."""
    with rt.transaction() as session:
        rows = session.scalars(
            select(DecisionRow)
            .where(DecisionRow.patient_id.like(f"{prefix}%"))
            .order_by(DecisionRow.patient_id)
        )
        decisions = [
            {c.key: getattr(r, c.key) for c in DecisionRow.__table__.columns if c.key != "id"}
            for r in rows
        ]
        events = session.scalars(
            select(Event).where(Event.patient_id.like(f"{prefix}%")).order_by(Event.id)
        )
        logged = [(e.kind, e.patient_id, e.occurred_at, e.program, e.payload) for e in events]
    return [{**d, "patient_id": d["patient_id"][1:]} for d in decisions], [
        (kind, pid[1:], *rest) for kind, pid, *rest in logged
    ]


@pytest.mark.parametrize("copy_from", [1, 10**6])  # by COPY on PostgreSQL, and by INSERT
def test_a_batch_of_decisions_is_written_as_one_by_one(rt, copy_from):
    model = EngineModel.new(PROGRAM.action_space)
    now = rt.clock.now()

    def decided(prefix):
        out = []
        for k in range(40):
            snapshot = make_snapshot(patient_id=f"{prefix}{k:02d}")
            decision = decide(
                snapshot=snapshot,
                program=PROGRAM,
                history=None,
                model=model,
                now=now,
                rng=np.random.default_rng(k),
            )
            decision = replace(decision, decision_id=f"{prefix}{decision.decision_id[1:]}")
            out.append((decision, model.featurizer.row(snapshot.covariates, snapshot.stated)))
        return out

    with rt.transaction() as session:
        for decision, features in decided("a"):
            record_decision(
                session, clock=rt.clock, decision=decision, features=features, flush=False
            )
        record_decisions(session, clock=rt.clock, decisions=decided("b"), copy_from=copy_from)
    one_by_one, batched = _decided(rt, "a"), _decided(rt, "b")
    assert len(batched[0]) == 40
    assert batched == one_by_one
