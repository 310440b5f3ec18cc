"""The engine's decision and its turning into words and an outbox row: the one place a journey
step, a requested message (:mod:`careloop.outreach.requests`) and a staff message ask the
engine, render the chosen variant and address it, so all carry the same language, reading
level, tone, framing and provenance."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from careloop.content.compose import RenderedMessage
from careloop.content.library import Library
from careloop.content.service import render_for_sending
from careloop.outreach.audience import Recipient
from careloop.outreach.outbox import NewMessage
from careloop.personalize.engine import BatchDecision, Decision, PopulationBatch, decide_batch
from careloop.personalize.service import load_history, load_model
from careloop.personalize.snapshot import EngineConfig, PatientSnapshot, ProgramSpec


def decide_for(
    session: Session,
    *,
    snapshots: Sequence[PatientSnapshot],
    spec: ProgramSpec,
    config: EngineConfig,
    now: datetime,
    seed: int,
) -> BatchDecision:
    """The engine's decisions for ``snapshots`` (one per send, a patient may repeat) under
    the program's learned model and each patient's history; ``seed`` makes a re-run agree."""
    model = load_model(session, program=spec, config=config)
    population = PopulationBatch.from_snapshots(snapshots, program=spec, model=model, now=now)
    patient_ids = [s.patient_id for s in snapshots]
    history = load_history(session, program=spec, patient_ids=patient_ids, model=model)
    return decide_batch(
        population=population,
        program=spec,
        history=history,
        model=model,
        now=now,
        rng=np.random.default_rng(seed),
    )


def render_decided(
    session: Session,
    *,
    message: str,
    decision: Decision,
    channel: str,
    fields: Mapping[str, object],
    timezone: str,
    library: Library | None = None,
) -> RenderedMessage:
    """``message`` in the variant the engine chose, for ``channel`` (raises when no approved
    text can carry it)."""
    action = decision.action
    assert action is not None  # only a decision that sends is rendered
    return render_for_sending(
        session,
        message=message,
        language=decision.language,
        reading_level=action.reading_level,
        tone=action.tone,
        channel=channel,
        fields=fields,
        locale=decision.language.replace("-", "_"),
        timezone=timezone,
        detailed_consent=False,
        library=library,
        framing=action.framing,
    )


def decided_notice(
    *,
    key: str,
    purpose: str,
    program: str | None,
    message: str,
    channel: str,
    address: str,
    sender: str | None,
    rendered: RenderedMessage,
    decision: Decision,
    recipient: Recipient,
    extra: dict[str, Any],
    enrollment_id: int | None = None,
    step: str | None = None,
    max_attempts: int = 5,
) -> NewMessage:
    """The outbox row for a rendered decision, timed at the engine's send time (a journey
    step's names its enrollment, step and attempts)."""
    assert decision.send_at is not None  # only a decision that sends is addressed
    return NewMessage(
        idempotency_key=key,
        patient_id=recipient.patient_id,
        purpose=purpose,
        channel=channel,
        to_address=address,
        body=rendered.body,
        subject=rendered.subject,
        html=rendered.html,
        due_at=decision.send_at,
        sender=sender,
        language=rendered.used.language,
        program=program,
        recipient_kind=recipient.kind,
        caregiver_id=recipient.caregiver_id,
        content_message=message,
        content_version_id=rendered.version_id,
        decision_id=decision.decision_id,
        propensity=decision.propensity,
        extra=extra,
        enrollment_id=enrollment_id,
        step=step,
        max_attempts=max_attempts,
    )
