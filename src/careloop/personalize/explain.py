"""One sentence a nurse can read: what was chosen and the evidence behind it.

Sentences quote counts from the patient's own history ("she answered 4 of 5 evening
texts and none of 3 emails") and never carry names or contact details, only a pronoun.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from careloop.channels.labels import CHANNEL_WORDS
from careloop.personalize.actions import Action, SendWindow
from careloop.personalize.constraints import Removal, RemovalReason

_WINDOW_NAMES = {"08-11": "morning", "11-14": "midday", "14-17": "afternoon", "17-20": "evening"}
_CHANNEL_HEADS = {"sms": "SMS", "email": "email", "voice": "call", "portal": "portal message"}
_CHANNEL_PLURALS = {code: words.plural for code, words in CHANNEL_WORDS.items()}
_CHANNEL_SINGULARS = {code: words.noun for code, words in CHANNEL_WORDS.items()}


@dataclass(frozen=True)
class Evidence:
    """The counts an explanation may quote for one patient (channels x windows)."""

    pair_sent: npt.NDArray[np.float64]
    pair_responded: npt.NDArray[np.float64]
    channels: tuple[str, ...]
    windows: tuple[str, ...]


def window_name(label: str) -> str:
    if label in _WINDOW_NAMES:
        return _WINDOW_NAMES[label]
    window = SendWindow.parse(label)
    return f"{window.label.replace('-', '–')}"


def _count(value: float) -> str:
    number = round(value)
    return "none" if number == 0 else str(number)


def _messages(channel: str, n: float, *, window: str | None = None) -> str:
    noun = _CHANNEL_SINGULARS[channel] if round(n) == 1 else _CHANNEL_PLURALS[channel]
    when = f"{window_name(window)} " if window and window in _WINDOW_NAMES else ""
    tail = f" in the {window_name(window)} window" if window and window not in _WINDOW_NAMES else ""
    return f"{when}{noun}{tail}"


def explain_choice(
    *,
    action: Action,
    pronoun: str,
    evidence: Evidence,
    explored: bool,
    stated_channel: str | None,
) -> str:
    """The sentence for a chosen action."""
    when = window_name(action.send_window)
    head = f"{when.capitalize()} {_CHANNEL_HEADS[action.channel]}"
    if when not in _WINDOW_NAMES.values():
        head = f"{_CHANNEL_HEADS[action.channel].capitalize()} at {when}"
    c = evidence.channels.index(action.channel)
    w = evidence.windows.index(action.send_window)
    sent_pair = float(evidence.pair_sent[c, w])
    answered_pair = float(evidence.pair_responded[c, w])
    sent_channel = float(evidence.pair_sent[c].sum())
    answered_channel = float(evidence.pair_responded[c].sum())
    subject = pronoun
    past = "answered"

    if explored:
        reason = f"trying it to learn what works best for {_object(pronoun)}"
        if sent_channel:
            reason += (
                f" ({subject} {past} {_count(answered_channel)} of {_count(sent_channel)} "
                f"{_messages(action.channel, sent_channel)} so far)"
            )
        return f"{head}: {reason}."

    parts: list[str] = []
    if sent_pair:
        parts.append(
            f"{subject} {past} {_count(answered_pair)} of {_count(sent_pair)} "
            f"{_messages(action.channel, sent_pair, window=action.send_window)}"
        )
    elif sent_channel:
        parts.append(
            f"{subject} {past} {_count(answered_channel)} of {_count(sent_channel)} "
            f"{_messages(action.channel, sent_channel)}"
        )
    contrast = _best_contrast(evidence, exclude=c)
    if parts and contrast is not None:
        other, sent, answered = contrast
        parts.append(f"{_count(answered)} of {_count(sent)} {_messages(other, sent)}")
    if not parts:
        if stated_channel == action.channel:
            return (
                f"{head}: {subject} asked for {_CHANNEL_PLURALS[action.channel]}, "
                f"and patients like {_object(pronoun)} answer them well."
            )
        return (
            f"{head}: no replies to learn from yet, so this follows what patients "
            f"like {_object(pronoun)} answer most."
        )
    sentence = " and ".join(parts)
    if stated_channel == action.channel:
        sentence += f", as {subject} asked"
    return f"{head}: {sentence}."


def _object(pronoun: str) -> str:
    return {"she": "her", "he": "him"}.get(pronoun, "them")


def _best_contrast(evidence: Evidence, *, exclude: int) -> tuple[str, float, float] | None:
    """The other channel with the most messages sent, to show what did not work as well."""
    sent = evidence.pair_sent.sum(axis=1)
    best: tuple[str, float, float] | None = None
    for c, channel in enumerate(evidence.channels):
        if c == exclude or sent[c] <= 0:
            continue
        if best is None or sent[c] > best[1]:
            best = (channel, float(sent[c]), float(evidence.pair_responded[c].sum()))
    return best


def explain_hold(*, pronoun: str, removals: list[Removal], budget: str) -> str:
    """The sentence when nothing may be sent."""
    reasons = {r.reason for r in removals if r.factor == "patient"}
    if RemovalReason.DECEASED in reasons:
        return "No outreach: the patient is recorded as deceased."
    if RemovalReason.OPTED_OUT in reasons:
        return f"No outreach: {pronoun} opted out of messages."
    if RemovalReason.LANGUAGE_UNSUPPORTED in reasons:
        return f"No outreach: this program has no content in {_possessive(pronoun)} language."
    if RemovalReason.CONTACT_BUDGET in reasons:
        return f"No outreach now: {pronoun} already had {budget} across programs."
    if any(r.reason == RemovalReason.QUIET_HOURS for r in removals) and not any(
        r.factor == "channel" for r in removals
    ):
        return f"No outreach: every send window falls in {_possessive(pronoun)} quiet hours."
    return (
        "No outreach: no channel with both consent and a usable contact point "
        f"for {_object(pronoun)}."
    )


def _possessive(pronoun: str) -> str:
    return {"she": "her", "he": "his"}.get(pronoun, "their")
