"""Decisions explain themselves in one sentence that quotes the evidence."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
from tests.personalize.conftest import PROGRAM, make_snapshot

from careloop.personalize.engine import EngineModel, decide

NOW = datetime(2026, 3, 2, 12, tzinfo=UTC)


def _history_preferring_evening_sms(model: EngineModel):
    history = model.empty_history(1)
    space = PROGRAM.action_space
    sms, email = space.channels.index("sms"), space.channels.index("email")
    evening = space.send_windows.index("17-20")
    history.pair_sent[0, sms, evening] = 5
    history.pair_responded[0, sms, evening] = 4
    history.pair_sent[0, email, 0] = 3
    # a confident posterior: evening SMS clearly best for this patient
    history.offset_mean[0, sms] = 3.0
    history.offset_mean[0, 4 + evening] = 3.0
    history.offset_cov[0] *= 0.001
    return history


def test_explanation_quotes_the_patients_own_replies():
    model = EngineModel.new(PROGRAM.action_space)
    decision = decide(
        snapshot=make_snapshot(pronoun="she"),
        program=PROGRAM,
        history=_history_preferring_evening_sms(model),
        model=model,
        now=NOW,
        rng=np.random.default_rng(1),
    )
    assert decision.action is not None
    assert (decision.action.channel, decision.action.send_window) == ("sms", "17-20")
    assert decision.explanation.startswith("Evening SMS: she answered 4 of 5 evening texts")
    assert "none of 3 emails" in decision.explanation


def test_explanation_without_history_says_it_follows_similar_patients():
    model = EngineModel.new(PROGRAM.action_space)
    decision = decide(
        snapshot=make_snapshot(pronoun="he"),
        program=PROGRAM,
        history=None,
        model=model,
        now=NOW,
        rng=np.random.default_rng(3),
    )
    assert "patients like him" in decision.explanation or "learn" in decision.explanation


def test_explanation_carries_no_patient_identifiers():
    model = EngineModel.new(PROGRAM.action_space)
    decision = decide(
        snapshot=make_snapshot(patient_id="MRN-123456", pronoun="they"),
        program=PROGRAM,
        history=_history_preferring_evening_sms(model),
        model=model,
        now=NOW,
        rng=np.random.default_rng(1),
    )
    assert "MRN-123456" not in decision.explanation
    assert "they answered 4 of 5" in decision.explanation
