"""A call to a patient who needs an interpreter: in their language, or by a person.

The voice channel speaks the patient's language when the content library has an approved
voice variant of the step's message in it. Otherwise the call is not made by robot in
English (which the patient may not follow): a staff call task takes its place, and the
decision's explanation says why.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from sqlalchemy.orm import Session

from careloop.content.compose import primary_language, resolve_variant
from careloop.content.library import Library, VariantKey
from careloop.content.vocab import Channel, ReadingLevel, Tone
from careloop.errors import CareloopError
from careloop.outreach.handoffs import CallTask
from careloop.personalize.engine import Decision
from careloop.records.interpreter import InterpreterNeed, interpreter_for


def has_voice_variant(
    library: Library, *, message: str, language: str, action_level: str, action_tone: str
) -> bool:
    """An approved voice variant of ``message`` (or its fallbacks) in ``language``."""
    wanted = primary_language(language)
    if wanted not in library.by_language:
        return False
    key = VariantKey(message, wanted, ReadingLevel(action_level), Tone(action_tone), Channel.VOICE)
    try:
        resolve_variant(library, key, require_approved=True)
    except CareloopError:
        return False
    return True


def route_voice(
    session: Session,
    *,
    decision: Decision,
    message: str,
    program: str,
    title: str,
    library: Library,
    needs: Mapping[str, InterpreterNeed | None] | None = None,
) -> tuple[Decision, CallTask | None]:
    """The decision for a voice step, adjusted for an interpreter need.

    Returns the decision (in the patient's language when the library can speak it) and,
    when it cannot, the staff call task that replaces the robo-call.
    """
    action = decision.action
    if action is None or action.channel != "voice":
        return decision, None
    if needs is not None and decision.patient_id in needs:  # read for the batch at once
        need = needs[decision.patient_id]
    else:
        need = interpreter_for(session, patient_id=decision.patient_id)
    if need is None:
        return decision, None
    if has_voice_variant(
        library,
        message=message,
        language=need.language,
        action_level=action.reading_level,
        action_tone=action.tone,
    ):
        return replace(decision, language=need.language), None
    why = (
        f" Interpreter needed ({need.language_name}) and no approved {need.language_name} "
        "voice message: a staff member calls instead of an automated call in English."
    )
    return replace(decision, explanation=decision.explanation + why), _call_task(
        decision, need, program=program, title=title
    )


def _call_task(decision: Decision, need: InterpreterNeed, *, program: str, title: str) -> CallTask:
    return CallTask(
        patient_id=decision.patient_id,
        program=program,
        rule_id=f"outreach-interpreter-call:{program}",
        title=f"Call the patient with a {need.language_name} interpreter: {title}",
        summary=(
            f"The journey's call is due; the record says an interpreter is needed "
            f"({need.language_name}) and there is no approved {need.language_name} voice "
            "message, so it was not made automatically."
        ),
    )
