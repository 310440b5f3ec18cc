"""A check-in over SMS (one question per message) or a voice keypad, as a pure state machine.

    next_prompt(state) ──► patient replies ──► accept_reply(state, text, now)
        ▲                                          │
        ├──────────── REPROMPT (not understood; at most 2 re-asks)
        ├──────────── NEXT (answer kept, ask the next question)
        └──────────── DONE: status COMPLETED (all asked) or NEEDS_STAFF (3rd reply not
                      understood: a person takes over rather than the patient being
                      pestered by a machine)

Replies are parsed leniently: "3", "three", "tres", "3/4", "3 out of 4". A reply holding
two different numbers ("0-4 scale") is ambiguous and re-asked, never guessed. The state is
plain data so it can be stored between messages (see ``careteam.intake``).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from careloop.content.conversation_words import conversation_words
from careloop.feedback.checkins import (
    MAX_URL,
    MIN_URL,
    _answer_options,
    _ext,
    nest_answers,
    walk_items,
)

MAX_REASKS = 2


class Step(StrEnum):
    REPROMPT = "reprompt"
    NEXT = "next"
    DONE = "done"


class ConversationStatus(StrEnum):
    ASKING = "asking"
    COMPLETED = "completed"
    NEEDS_STAFF = "needs_staff"


@dataclass(frozen=True)
class Question:
    link_id: str
    text: str
    kind: str  # "scale" | "choice" | "boolean"
    low: int = 0
    high: int = 0
    options: tuple[tuple[str, str, str | None], ...] = ()  # (code, display, system)
    by_ordinal: bool = False
    required: bool = True
    labels: tuple[str, ...] = ()
    """The options' displays in the patient's language (``_display`` translations), for the
    hint and for reading a reply; the stored answer keeps the code system's own display."""


@dataclass(frozen=True)
class ConversationState:
    questionnaire: str
    questions: tuple[Question, ...]
    channel: str = "sms"
    index: int = 0
    reasks: int = 0
    answers: tuple[tuple[str, dict[str, Any]], ...] = ()
    status: ConversationStatus = ConversationStatus.ASKING
    last_activity: str | None = None
    unparsed: tuple[str, ...] = field(default_factory=tuple)
    language: str = "en"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ConversationState:
        questions = tuple(
            Question(
                **{
                    **q,
                    "options": tuple(tuple(o) for o in q["options"]),
                    "labels": tuple(q.get("labels") or ()),
                }
            )
            for q in data["questions"]
        )
        return cls(
            questionnaire=data["questionnaire"],
            questions=questions,
            channel=data["channel"],
            index=data["index"],
            reasks=data["reasks"],
            answers=tuple((k, v) for k, v in data["answers"]),
            status=ConversationStatus(data["status"]),
            last_activity=data.get("last_activity"),
            unparsed=tuple(data.get("unparsed") or ()),
            language=data.get("language", "en"),
        )


TRANSLATION_URL = "http://hl7.org/fhir/StructureDefinition/translation"


def translated(element: dict[str, Any], name: str, language: str) -> str | None:
    """``element[name]`` in ``language`` from its FHIR ``translation`` extension (on
    ``_<name>``), else the element's own value."""
    wanted = language.split("-")[0].lower()
    for ext in (element.get(f"_{name}") or {}).get("extension") or []:
        if not isinstance(ext, dict) or ext.get("url") != TRANSLATION_URL:
            continue
        parts = {e.get("url"): e for e in ext.get("extension") or [] if isinstance(e, dict)}
        lang = str((parts.get("lang") or {}).get("valueCode") or "").split("-")[0].lower()
        content = (parts.get("content") or {}).get("valueString")
        if lang == wanted and isinstance(content, str) and content:
            return content
    value = element.get(name)
    return str(value) if value else None


def item_text(item: dict[str, Any], language: str) -> str:
    """An item's text in ``language`` (FHIR ``translation`` extension on ``_text``), else its
    own text."""
    return translated(item, "text", language) or str(item["linkId"])


def questions_for(questionnaire: dict[str, Any], language: str = "en") -> tuple[Question, ...]:
    """The askable items of a questionnaire, in order (groups and calculated items skipped)."""
    found = []
    for item in walk_items(questionnaire.get("item")):
        kind = item.get("type")
        if item.get("readOnly") or kind in ("group", "display"):
            continue
        text = item_text(item, language)
        required = bool(item.get("required"))
        if kind == "integer":
            low, high = _ext(item, MIN_URL), _ext(item, MAX_URL)
            if low is None or high is None:
                raise ValueError(
                    f"item {item['linkId']} needs minValue/maxValue to be asked by SMS"
                )
            found.append(
                Question(item["linkId"], text, "scale", int(low), int(high), required=required)
            )
        elif kind == "boolean":
            found.append(Question(item["linkId"], text, "boolean", required=required))
        elif kind == "choice":
            pairs = _answer_options(questionnaire, item)
            options = tuple(
                (
                    str(c.get("code")),
                    str(c.get("display") or c.get("code")),
                    c.get("system"),
                )
                for c, _ in pairs
            )
            labels = tuple(
                translated(c, "display", language) or str(c.get("code")) for c, _ in pairs
            )
            ordinals = [o for _, o in pairs]
            by_ordinal = all(o is not None for o in ordinals) and ordinals == list(
                range(int(ordinals[0] or 0), int(ordinals[0] or 0) + len(ordinals))
            )
            low = int(ordinals[0] or 0) if by_ordinal else 1
            found.append(
                Question(
                    item["linkId"],
                    text,
                    "choice",
                    low,
                    low + len(options) - 1,
                    options,
                    by_ordinal,
                    required,
                    labels,
                )
            )
        else:
            raise ValueError(f"item {item['linkId']} of type {kind} cannot be asked by SMS")
    return tuple(found)


def start(
    questionnaire: dict[str, Any], *, channel: str = "sms", language: str = "en"
) -> ConversationState:
    url = str(questionnaire.get("url") or f"Questionnaire/{questionnaire['id']}")
    return ConversationState(
        questionnaire=url,
        questions=questions_for(questionnaire, language),
        channel=channel,
        language=language,
    )


def _hint(question: Question, channel: str, language: str) -> str:
    words = conversation_words(language)
    verb = words["press"] if channel == "voice" else words["reply"]
    if question.kind == "boolean":
        return words["yes_no_voice"] if channel == "voice" else words["yes_no_sms"]
    if question.kind == "choice":
        shown = question.labels or tuple(display for _, display, _ in question.options)
        listed = ", ".join(f"{question.low + i} {label}" for i, label in enumerate(shown))
        return words["choice"].format(
            verb=verb, low=question.low, high=question.high, listed=listed
        )
    return words["number"].format(verb=verb, low=question.low, high=question.high)


def next_prompt(state: ConversationState) -> str | None:
    """The message to send now, or None when the conversation is over."""
    if state.status is not ConversationStatus.ASKING or state.index >= len(state.questions):
        return None
    question = state.questions[state.index]
    number = f"({state.index + 1}/{len(state.questions)}) "
    return f"{number}{question.text} {_hint(question, state.channel, state.language)}"


_WORDS = {
    "zero": 0,
    "none": 0,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "cero": 0,
    "nada": 0,
    "ninguno": 0,
    "ninguna": 0,
    "uno": 1,
    "una": 1,
    "dos": 2,
    "tres": 3,
    "cuatro": 4,
    "cinco": 5,
    "seis": 6,
    "siete": 7,
    "ocho": 8,
    "nueve": 9,
    "diez": 10,
}
_YES = {"yes", "y", "yeah", "yep", "si", "s", "true", "ok", "sure"}
_NO = {"no", "n", "nope", "false", "nah"}


def _normalise(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text.lower())
    return "".join(ch for ch in folded if not unicodedata.combining(ch)).strip()


def parse_number(text: str, *, high: int | None = None) -> int | None:
    """The one number a reply means, or None when there is none or it is ambiguous."""
    clean = _normalise(text)
    out_of = re.fullmatch(r"\D*(\d+)\s*(?:/|out of|de)\s*(\d+)\D*", clean)
    if out_of and high is not None and int(out_of.group(2)) == high:
        return int(out_of.group(1))
    numbers = {int(n) for n in re.findall(r"\d+", clean)}
    numbers |= {_WORDS[w] for w in re.findall(r"[a-z]+", clean) if w in _WORDS}
    return numbers.pop() if len(numbers) == 1 else None


def _parse(question: Question, text: str, *, keypad: bool) -> dict[str, Any] | None:
    clean = _normalise(text)
    if question.kind == "boolean":
        if keypad:
            return (
                {"valueBoolean": True}
                if clean == "1"
                else {"valueBoolean": False}
                if clean == "2"
                else None
            )
        words = set(re.findall(r"[a-z]+", clean))
        if words & _YES and not words & _NO:
            return {"valueBoolean": True}
        if words & _NO and not words & _YES:
            return {"valueBoolean": False}
        return None
    number = (
        parse_number(text, high=question.high)
        if not keypad
        else (int(clean) if clean.isdigit() else None)
    )
    if question.kind == "choice" and number is None and not keypad:
        labels = question.labels or tuple(o[1] for o in question.options)
        matches = [
            o
            for o, label in zip(question.options, labels, strict=True)
            if o[0].lower() in clean
            or any(w in clean for w in f"{o[1]} {label}".lower().split() if len(w) > 3)
        ]
        if len(matches) == 1:
            code, display, system = matches[0]
            return {
                "valueCoding": {
                    k: v for k, v in (("system", system), ("code", code), ("display", display)) if v
                }
            }
    if number is None or not question.low <= number <= question.high:
        return None
    if question.kind == "scale":
        return {"valueInteger": number}
    code, display, system = question.options[number - question.low]
    return {
        "valueCoding": {
            k: v for k, v in (("system", system), ("code", code), ("display", display)) if v
        }
    }


def _apply(
    state: ConversationState, text: str, now: datetime, *, keypad: bool
) -> tuple[ConversationState, Step]:
    if state.status is not ConversationStatus.ASKING:
        raise ValueError("the conversation is over")
    question = state.questions[state.index]
    when = now.isoformat()
    if keypad and _normalise(text) == "*":
        return replace(state, last_activity=when), Step.REPROMPT
    answer = _parse(question, text, keypad=keypad)
    if answer is None and not question.required and _normalise(text) in ("skip", "saltar", "#"):
        answer = {}
    if answer is None:
        if state.reasks >= MAX_REASKS:
            return replace(
                state,
                status=ConversationStatus.NEEDS_STAFF,
                last_activity=when,
                unparsed=(*state.unparsed, text[:160]),
            ), Step.DONE
        return replace(
            state,
            reasks=state.reasks + 1,
            last_activity=when,
            unparsed=(*state.unparsed, text[:160]),
        ), Step.REPROMPT
    answers = (*state.answers, (question.link_id, answer)) if answer else state.answers
    index = state.index + 1
    if index >= len(state.questions):
        return replace(
            state,
            index=index,
            reasks=0,
            answers=answers,
            last_activity=when,
            status=ConversationStatus.COMPLETED,
        ), Step.DONE
    return replace(state, index=index, reasks=0, answers=answers, last_activity=when), Step.NEXT


def accept_reply(
    state: ConversationState, text: str, now: datetime
) -> tuple[ConversationState, Step]:
    """Take one SMS reply to the current question."""
    return _apply(state, text, now, keypad=False)


def accept_keypad(
    state: ConversationState, digits: str, now: datetime
) -> tuple[ConversationState, Step]:
    """Take keypad digits (``*`` repeats the question; a trailing ``#`` ends the entry)."""
    return _apply(state, digits.rstrip("#") or "#", now, keypad=True)


def reprompt_message(state: ConversationState) -> str:
    prompt = next_prompt(state) or ""
    return f"{conversation_words(state.language)['sorry']} {prompt}".strip()


def closing_message(state: ConversationState) -> str:
    words = conversation_words(state.language)
    return words["staff"] if state.status is ConversationStatus.NEEDS_STAFF else words["done"]


def to_response(
    state: ConversationState,
    *,
    response_id: str,
    patient_ref: str,
    authored: datetime,
    questionnaire: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The QuestionnaireResponse of what was answered (in-progress when staff take over).

    With ``questionnaire`` the items are nested in its groups, as FHIR expects; without it
    they are listed flat (still valid for careloop's checks, which read items at any depth).
    """
    flat = {link_id: [answer] for link_id, answer in state.answers}
    items = (
        nest_answers(questionnaire, flat)
        if questionnaire is not None
        else [{"linkId": k, "answer": v} for k, v in flat.items()]
    )
    status = "completed" if state.status is ConversationStatus.COMPLETED else "in-progress"
    return {
        "resourceType": "QuestionnaireResponse",
        "id": response_id,
        "questionnaire": state.questionnaire,
        "status": status,
        "subject": {"reference": patient_ref},
        "authored": authored.isoformat(),
        "item": items,
    }
