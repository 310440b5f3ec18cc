"""A patient's answer to a dose reminder: "taken / later / skipped", and side effects in it.

Keypad digits (1 taken, 2 later, 3 skipped) and words in English and Spanish. A reply that
mentions a side effect ("3 skipped, it makes me dizzy") goes through the existing symptom
rules (``feedback.evaluate`` with the check-in symptom items, then ``careteam.intake``), so an
emergency symptom is handled exactly like one reported in a check-in; a side effect no rule
acts on still gets a routine review task. Under a patient-support program the same reply
also opens an adverse-event case (``medications.adverse``). The reply text is not stored here:
only the matched terms travel on.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from careloop.careteam.alerts import create_task
from careloop.careteam.intake import act_on_findings
from careloop.clock import Clock
from careloop.feedback.catalog import default_catalog
from careloop.feedback.checkins import Checkin, ItemAnswer
from careloop.feedback.evaluate import NewInput, evaluate
from careloop.feedback.ruleset import Severity, default_rules
from careloop.feedback.snapshot import load_snapshot
from careloop.medications import adverse
from careloop.medications.service import confirm

SYMPTOM_SYSTEM = "https://careloop.dev/fhir/CodeSystem/symptom"
_KEYPAD = {"1": "taken", "2": "later", "3": "skipped"}
_WORDS = {
    "taken": ("taken", "took", "done", "yes", "tome", "tomada", "tomadas", "si", "listo"),
    "later": ("later", "snooze", "luego", "despues", "mas tarde"),
    "skipped": ("skipped", "skip", "missed", "no", "omiti", "salte", "no la tome"),
}
# Free-text side effects → (symptom item of the check-in rules, grade), or None when no
# symptom rule has an item for it (it is still a side effect: review task, AE case).
SIDE_EFFECTS: dict[str, tuple[str, int] | None] = {
    "chest pain": ("chest-pain", 1),
    "dolor de pecho": ("chest-pain", 1),
    "short of breath": ("shortness-of-breath", 3),
    "cant breathe": ("shortness-of-breath", 3),
    "falta de aire": ("shortness-of-breath", 3),
    "no puedo respirar": ("shortness-of-breath", 3),
    "bleeding": ("bleeding", 2),
    "sangrado": ("bleeding", 2),
    "confused": ("confusion", 1),
    "confundid": ("confusion", 1),
    "fever": ("fever-chills", 1),
    "chills": ("fever-chills", 1),
    "fiebre": ("fever-chills", 1),
    "nause": None,
    "vomit": None,
    "dizz": None,
    "mareo": None,
    "rash": None,
    "sarpullido": None,
    "ronchas": None,
    "diarrh": None,
    "diarrea": None,
    "headache": None,
    "dolor de cabeza": None,
    "stomach": None,
    "estomago": None,
    "itch": None,
    "swelling": None,
    "hinchazon": None,
    "side effect": None,
    "efecto secundario": None,
    "allerg": None,
    "alergia": None,
}
SERIOUSNESS: dict[str, str] = {
    "hospital": "requiresHospitalization",
    "emergency room": "requiresHospitalization",
    "urgencias": "requiresHospitalization",
    "life threatening": "isLifeThreatening",
    "almost died": "isLifeThreatening",
    "casi me muero": "isLifeThreatening",
    "died": "resultsInDeath",
    "murio": "resultsInDeath",
    "disabled": "resultsInDisability",
    "can't walk": "resultsInDisability",
}
_EMERGENCY_ITEMS = {"chest-pain", "shortness-of-breath", "bleeding", "confusion"}


def _plain(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text.lower())
    folded = "".join(c for c in folded if not unicodedata.combining(c))
    return re.sub(r"[^a-z0-9' ]+", " ", folded).replace("'", "")


@dataclass(frozen=True, slots=True)
class ParsedReply:
    """What a reply says: the answer (if any), side-effect terms, seriousness criteria."""

    answer: str | None
    terms: tuple[str, ...] = ()
    symptoms: dict[str, int] = field(default_factory=dict)
    seriousness: tuple[str, ...] = ()


def parse_reply(text: str) -> ParsedReply:
    """Read a reply; never raises (an unreadable reply has no answer and no terms)."""
    plain = _plain(text).strip()
    answer = _KEYPAD.get(plain[:1]) if plain[:1] in _KEYPAD else None
    if answer is None:
        padded = f" {plain} "
        for name, words in _WORDS.items():
            if any(f" {w} " in padded for w in words):
                answer = name
                break
    terms = tuple(t for t in SIDE_EFFECTS if t.replace("'", "") in plain)
    symptoms: dict[str, int] = {}
    for term in terms:
        item = SIDE_EFFECTS[term]
        if item is not None:
            symptoms[item[0]] = max(item[1], symptoms.get(item[0], 0))
    criteria = {c for t, c in SERIOUSNESS.items() if t.replace("'", "") in plain}
    if _EMERGENCY_ITEMS & set(symptoms):
        criteria.add("otherMedicallyImportantCondition")
    return ParsedReply(answer, terms, symptoms, tuple(sorted(criteria)))


@dataclass
class ReplyOutcome:
    """What a reply did: confirmations recorded, worklist items, adverse-event case."""

    answer: str | None
    confirmations: int = 0
    items: list[int] = field(default_factory=list)
    ae_case: int | None = None


def handle_reply(
    session: Session,
    *,
    patient_id: str,
    text: str,
    channel: str,
    at: datetime,
    clock: Clock,
    actor: str,
    reporter: str = "patient",
) -> ReplyOutcome:
    """Record the answer, route side effects through the symptom rules, open an AE case."""
    parsed = parse_reply(text)
    outcome = ReplyOutcome(parsed.answer)
    now = clock.now()
    matched = []
    if parsed.answer is not None:
        matched = confirm(
            session,
            patient_id=patient_id,
            answer=parsed.answer,
            at=at,
            channel=channel,
            actor=actor,
            now=now,
        )
        outcome.confirmations = len(matched)
    if not parsed.terms:
        return outcome
    outcome.items = _route_symptoms(session, patient_id, parsed, clock=clock, actor=actor)
    keys = sorted({c.slot_id for c in matched})
    case = adverse.open_from_reply(
        session,
        patient_id=patient_id,
        terms=parsed.terms,
        seriousness=parsed.seriousness,
        reporter=reporter,
        channel=channel,
        slot_ids=keys,
        clock=clock,
        actor=actor,
    )
    outcome.ae_case = case.id if case is not None else None
    return outcome


def _route_symptoms(
    session: Session, patient_id: str, parsed: ParsedReply, *, clock: Clock, actor: str
) -> list[int]:
    now = clock.now()
    answers = {
        f"{SYMPTOM_SYSTEM}|{name}": ItemAnswer(
            link_id=name, key=f"{SYMPTOM_SYSTEM}|{name}", value=grade, ordinal=float(grade)
        )
        for name, grade in parsed.symptoms.items()
    }
    checkin = Checkin(
        response_id=f"medication-reply-{now:%Y%m%d%H%M%S}",
        questionnaire="medication-reply",
        instrument="medication-reply",
        patient_ref=None,
        authored=now,
        status="completed",
        answers=answers,
    )
    snapshot = load_snapshot(
        session, patient_id=patient_id, now=now, catalog=default_catalog(), readings=False
    )
    new = NewInput(patient_id=patient_id, checkin=checkin, source="medication-reply")
    findings = evaluate(default_rules(), snapshot=snapshot, new_input=new, now=now)
    items, _, _ = act_on_findings(session, findings, clock=clock, actor=actor)
    if items:
        return items
    raised = create_task(
        session,
        patient_id=patient_id,
        rule_id="medication-side-effect",
        title="Side effect reported in a medication reply",
        summary=f"Reported: {', '.join(parsed.terms)}. Review the medicine with the patient.",
        severity=Severity.ROUTINE,
        clock=clock,
        actor=actor,
        program="medications",
        evidence=("patient reply to a dose reminder",),
    )
    return [raised.item_id]
