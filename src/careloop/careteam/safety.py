"""What a dangerous input needs at once, beyond the alert: words for the patient, a question
that was never asked.

An urgent finding whose rule names a ``patient_message`` is answered on the channel the
input came by (portal page, SMS reply, MQTT reply topic, voice) in the patient's language,
from ``content/advice`` (no name or other PHI: a device screen or a shared phone may show
it). A response that left a required item unanswered (an app or a conversation that could
not re-ask) becomes a task to ask it; PHQ-9 item 9 is asked the same day.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from careloop.careteam import alerts as worklist_alerts
from careloop.clock import Clock
from careloop.content.advice import advice_library, render_advice
from careloop.content.vocab import DEFAULT_LANGUAGE
from careloop.feedback.evaluate import Finding
from careloop.feedback.ruleset import Severity, default_rules
from careloop.feedback.service import CheckedCheckin
from careloop.models import WorklistItem
from careloop.records.service import get_patient


def advice_for(findings: Sequence[Finding]) -> list[str]:
    """The patient messages of the urgent findings, most pressing first (no duplicates)."""
    ordered = sorted(findings, key=lambda f: Severity(f.severity).rank)
    advice: list[str] = []
    for finding in ordered:
        message = finding.patient_message
        if finding.severity is Severity.URGENT and message and message not in advice:
            advice.append(message)
    return advice


ADVICE_SHOWN_FOR = timedelta(minutes=30)


def current_advice(session: Session, *, patient_id: str, now: datetime) -> list[str]:
    """Advice for the patient's open urgent alerts seen in the last half hour (a page shown
    after the reading that raised them, or reloaded, keeps telling them what to do)."""
    by_rule = {r.id: r.patient_message for r in default_rules() if r.patient_message}
    rows = session.scalars(
        select(WorklistItem.rule_id)
        .where(
            WorklistItem.patient_id == patient_id,
            WorklistItem.kind == "alert",
            WorklistItem.severity == str(Severity.URGENT),
            WorklistItem.status == "open",
            WorklistItem.last_seen_at >= now - ADVICE_SHOWN_FOR,
        )
        .order_by(WorklistItem.last_seen_at.desc())
    )
    advice: list[str] = []
    for rule_id in rows:
        message = by_rule.get(rule_id)
        if message and message not in advice:
            advice.append(message)
    return advice


def advice_text(
    session: Session,
    *,
    patient_id: str,
    advice: Sequence[str],
    phone: str,
    channel: str,
    language: str | None = None,
) -> str | None:
    """The advice in ``language`` (else the patient's), for one channel (``sms``, ``voice``,
    ``portal``, ``device``); None when there is nothing to say. A caregiver who wrote is
    answered in their own language, which the caller passes."""
    if not advice:
        return None
    if language is None:
        language = get_patient(session, patient_id).language
    return render_advice(advice[0], language=language, phone=phone, channel=channel)


def advice_in_languages(
    session: Session,
    *,
    patient_id: str,
    advice: Sequence[str],
    phone: str,
    channel: str,
    also_in: str | None = None,
) -> list[tuple[str, str]]:
    """(language, text) of every advice message: in the language of the patient's record
    first, then in ``also_in`` (the language a page is shown in) when that differs, so a
    page opened in another language (a caregiver's, a shared device's) still tells the
    patient in their own."""
    if not advice:
        return []
    spoken = advice_library()

    def usable(language: str | None) -> str:
        base = (language or DEFAULT_LANGUAGE).split("-")[0].lower()
        return base if base in spoken else DEFAULT_LANGUAGE

    own = usable(get_patient(session, patient_id).language)
    other = usable(also_in) if also_in else own
    languages = [own] + ([other] if other != own else [])
    return [
        (language, render_advice(message, language=language, phone=phone, channel=channel))
        for message in advice
        for language in languages
    ]


SELF_HARM_ITEMS = frozenset({"44260-8"})
"""PHQ-9 item 9: unanswered, a suicide-risk question nobody asked (Simon 2013)."""


def ask_missing_items(
    session: Session, checked: CheckedCheckin, *, clock: Clock, self_harm_only: bool = False
) -> int | None:
    """A task to ask the required questions a response left out (the channel could not)."""
    missing = checked.missing_required
    self_harm = bool(SELF_HARM_ITEMS & {m.rsplit("/", 1)[-1] for m in missing})
    if self_harm_only and not self_harm:
        return None
    return worklist_alerts.create_task(
        session,
        patient_id=checked.patient_id,
        rule_id=f"checkin-missing-items:{checked.checkin.instrument}",
        title=(
            "PHQ-9 item 9 (thoughts of self-harm) was not answered: ask it today"
            if self_harm
            else "Required check-in questions were not answered: ask them"
        ),
        severity=Severity.HIGH if self_harm else Severity.ROUTINE,
        summary=f"{checked.checkin.instrument}: unanswered required items "
        + ", ".join(m[:40] for m in missing[:12])
        + ".",
        clock=clock,
        actor="system:feedback",
        team="behavioral-health" if self_harm else "care-coordination",
        values={"response": checked.resource_id, "missing": list(missing)},
        evidence=(
            "Kroenke K et al. J Gen Intern Med 2001;16:606-613; Simon GE et al. Psychiatr Serv "
            "2013;64:1195-1202 (item 9 predicts suicide attempt)",
        )
        if self_harm
        else ("careloop check-in policy: a required item the channel could not re-ask",),
    ).item_id
