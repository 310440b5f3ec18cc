"""The engine's next decision told to the patient: "you", in their language.

The engine's own explanation (``Decision.explanation``) is for staff: English, third person,
quoting counts ("Morning call: she answered 2 of 2 morning calls"). A patient reads what we
plan (channel and time of day) and why, from the decision's fields, in the portal's words.
"""

from __future__ import annotations

from collections.abc import Callable

from careloop.personalize.constraints import RemovalReason
from careloop.personalize.engine import Decision

# A hold's reasons, most telling first (as explain_hold orders them), and their words.
_HOLDS = (
    (RemovalReason.OPTED_OUT, "next_hold_opted_out"),
    (RemovalReason.CONTACT_BUDGET, "next_hold_budget"),
    (RemovalReason.QUIET_HOURS, "next_hold_quiet"),
)


def next_decision_words(
    decision: Decision,
    *,
    t: Callable[..., str],
    has_text: Callable[[str], bool],
    stated_channel: str | None,
) -> list[str]:
    """The sentences the preferences page shows for ``decision`` (one or two)."""
    action = decision.action
    if action is None:
        reasons = {r.reason for r in decision.removals if r.factor == "patient"}
        reasons |= {r.reason for r in decision.removals if r.reason == RemovalReason.QUIET_HOURS}
        key = next((k for reason, k in _HOLDS if reason in reasons), "next_hold_contact")
        return [t(key)]
    window_key = f"window_{action.send_window}"
    window = t(window_key) if has_text(window_key) else action.send_window
    plan = t(f"next_{action.channel}", window=window)
    if decision.explored:
        why = t("next_why_explored")
    elif stated_channel == action.channel:
        why = t("next_why_stated")
    else:
        why = t("next_why_learned")
    return [plan, why]
