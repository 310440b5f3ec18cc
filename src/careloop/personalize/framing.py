"""Framing, the fifth factor: why a message says the action matters, learned per patient.

A program that lists ``framings`` in its action space gets one more factor, learned like tone
and reading level (pooled weights on the covariates plus a per-patient offset). What the
patient said matters most to them (the motivation check-in, ``StatedPreferences.framing``)
enters as a feature whose pooled weight on the matching framing *starts* at
``STATED_PRIOR_LOGIT`` instead of zero: a prior that favours the stated framing for a patient
with no replies yet, which the replies of everyone who stated it (and the patient's own
offset) then confirm or overturn.
"""

from __future__ import annotations

from careloop.personalize.actions import ActionSpace
from careloop.personalize.arrays import FloatArray

# Log-odds a stated motivation adds to its framing before any reply (about 2.7x the odds),
# with the usual prior sd of 1: it leads a new patient's first draws, and the patient's own
# unanswered messages overturn it. Measured against 0.5 (too weak to lead against the
# spread of the other weights) and against a firmer sd of 0.5 (overturned too slowly), see
# tests/personalize/test_personalize_framing.py and docs/personalize.md.
STATED_PRIOR_LOGIT = 1.0
# The framing factor's pooled weights keep that prior sd of 1 whatever the other factors'
# pooled prior (``EngineConfig.prior_precision``): the lead above is calibrated on it.
FRAMING_PRIOR_PRECISION = 1.0

# How an explanation names each framing ("framed around family because ...").
FRAMING_WORDS = {
    "plain": "no particular motivation",
    "gain": "staying well and independent",
    "loss": "avoiding health problems",
    "social": "family",
    "convenience": "convenience",
}


def seed_stated_prior(
    mean: FloatArray,
    *,
    space: ActionSpace,
    feature_names: tuple[str, ...],
    dim: int,
) -> None:
    """Start each framing's pooled weight on "stated this framing" at the prior (in place)."""
    if not space.framings:
        return
    first_value = sum(space.sizes[:4])  # the framing factor's values follow the other four
    for k, framing in enumerate(space.framings):
        name = f"stated_framing={framing}"
        if framing == "plain" or name not in feature_names:
            continue
        mean[(first_value + k) * dim + feature_names.index(name)] = STATED_PRIOR_LOGIT


def explain_framing(
    *,
    framing: str,
    pronoun: str,
    stated: str | None,
    sent: FloatArray,
    responded: FloatArray,
    framings: tuple[str, ...],
    explored: bool,
) -> str:
    """The clause appended to a decision's sentence, quoting the patient's own counts."""
    k = framings.index(framing)
    head = "plain wording" if framing == "plain" else f"framed around {FRAMING_WORDS[framing]}"
    own = ""
    if sent[k] > 0:
        own = f"{pronoun} answered {_count(responded[k])} of {_count(sent[k])} messages framed so"
    if explored:
        reason = f"trying it to learn what moves {_object(pronoun)}"
    elif stated == framing and own:
        reason = f"{pronoun} said {FRAMING_WORDS[framing]} matters most, and {own}"
    elif stated == framing:
        reason = f"{pronoun} said {FRAMING_WORDS[framing]} matters most"
    elif own:
        reason = own
        if stated is not None:
            s = framings.index(stated) if stated in framings else -1
            if s >= 0 and sent[s] > 0:
                reason += (
                    f" (and {_count(responded[s])} of {_count(sent[s])} framed around "
                    f"{FRAMING_WORDS[stated]}, which {pronoun} said matters most)"
                )
    else:
        reason = f"patients like {_object(pronoun)} answer it most"
    return f"{head} because {reason}"


def _count(value: float) -> str:
    number = round(float(value))
    return "none" if number == 0 else str(number)


def _object(pronoun: str) -> str:
    return {"she": "her", "he": "him"}.get(pronoun, "them")
