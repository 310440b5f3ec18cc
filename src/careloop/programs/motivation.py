"""What a patient said matters most to them: the motivation check-in, read one way.

Three one-tap items of careloop's own wording (``feedback/questionnaires/motivation.json``;
not a validated or licensed instrument) each offer the same four motivations. The patient's
motivation is the one chosen most often, the first item ("what matters most") breaking ties.
Segments select on it (``motivation: [family]``) and the engine takes it as a prior on the
message's framing (``StatedPreferences.framing``), which replies then confirm or overturn.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from careloop.fhirdata.dates import instant

QUESTIONNAIRE_URL = "https://careloop.dev/fhir/Questionnaire/motivation"
QUESTIONNAIRE_ID = "careloop-motivation"
SYSTEM = "https://careloop.dev/fhir/CodeSystem/motivation"
FIRST_ITEM = "matters-most"

# Each motivation and the message framing that speaks to it (personalize.actions.FRAMINGS).
FRAMING_OF = {
    "independence": "gain",
    "family": "social",
    "avoiding-problems": "loss",
    "convenience": "convenience",
}
MOTIVATIONS = tuple(FRAMING_OF)


def is_motivation_response(response: dict[str, Any]) -> bool:
    """Whether a QuestionnaireResponse answers the motivation check-in (any version)."""
    reference = str(response.get("questionnaire") or "").split("|", 1)[0]
    return reference in (QUESTIONNAIRE_URL, QUESTIONNAIRE_ID, f"Questionnaire/{QUESTIONNAIRE_ID}")


def motivation_of(response: dict[str, Any]) -> str | None:
    """The motivation a completed response states, or None when it names none."""
    votes: Counter[str] = Counter()
    first: str | None = None
    for item in response.get("item") or []:
        if not isinstance(item, dict):
            continue
        for answer in item.get("answer") or []:
            coding = answer.get("valueCoding") if isinstance(answer, dict) else None
            if not isinstance(coding, dict) or coding.get("system") != SYSTEM:
                continue
            code = coding.get("code")
            if code in FRAMING_OF:
                votes[code] += 1
                if item.get("linkId") == FIRST_ITEM:
                    first = code
    if not votes:
        return None
    top = max(votes.values())
    leaders = [code for code in MOTIVATIONS if votes[code] == top]
    return first if first in leaders else leaders[0]


def latest_motivation(responses: Iterable[dict[str, Any]], *, now: datetime) -> str | None:
    """The motivation of the most recent completed motivation check-in up to ``now``."""
    dated: list[tuple[datetime, dict[str, Any]]] = []
    for response in responses:
        if not is_motivation_response(response) or response.get("status") != "completed":
            continue
        authored = instant(response.get("authored"))
        if authored is not None and authored <= now:
            dated.append((authored, response))
    if not dated:
        return None
    return motivation_of(max(dated, key=lambda pair: pair[0])[1])
