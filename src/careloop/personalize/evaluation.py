"""Off-policy evaluation of candidate policies from the decisions the engine logged.

Every logged decision keeps, per factor (channel, send window, reading level, tone), the
probability the engine gave each feasible value. A *factored* target policy gives its own
per-factor probabilities; the probability it would have taken the logged action is their
product, and IPS / self-normalized IPS weigh each resolved reward by target ÷ logging
propensity (``personalize.ope.evaluate_policy``). Policies:

- ``logging``: the engine as it ran (the on-policy mean, a sanity check);
- ``uniform``: every feasible value of every factor equally likely;
- ``greedy``: the engine's most probable value per factor, always (exploitation only);
- ``<factor>=<value>``: that value always (when feasible), the rest as the engine did,
  e.g. ``channel=sms`` or ``send_window=17-20``.

These estimates are for screening; the randomized holdout and policy arms are the evidence.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from careloop.errors import InvalidInput
from careloop.models import DecisionRow
from careloop.personalize.ope import evaluate_policy

# framing only in programs that choose one: a factor a decision did not have is skipped
FACTORS = ("channel", "send_window", "reading_level", "tone", "framing")


def _factor_table(row: DecisionRow) -> dict[str, dict[str, float]]:
    table: dict[str, dict[str, float]] = {f: {} for f in FACTORS}
    for option in row.options or []:
        if option.get("feasible") and option.get("factor") in table:
            table[option["factor"]][str(option["value"])] = float(option.get("probability", 0.0))
    return table


def _target(policy: str, factor: str, logged: str, probabilities: dict[str, float]) -> float:
    if not probabilities:
        return 0.0
    if policy == "logging":
        return probabilities.get(logged, 0.0)
    if policy == "uniform":
        return 1.0 / len(probabilities)
    if policy == "greedy":
        return 1.0 if logged == max(probabilities, key=lambda v: probabilities[v]) else 0.0
    name, _, value = policy.partition("=")
    if name == factor:
        if value in probabilities:
            return 1.0 if logged == value else 0.0
        return probabilities.get(logged, 0.0)  # infeasible here: the engine's choice stands
    return probabilities.get(logged, 0.0)


def check_policy(policy: str) -> str:
    if policy in ("logging", "uniform", "greedy"):
        return policy
    name, sep, value = policy.partition("=")
    if sep and name in FACTORS and value:
        return policy
    raise InvalidInput(
        f"unknown policy {policy!r}: use logging, uniform, greedy or FACTOR=VALUE "
        f"with FACTOR one of {', '.join(FACTORS)}",
        field="--policy",
    )


def evaluate_policies(session: Session, *, program: str, policies: Sequence[str]) -> dict[str, Any]:
    """IPS and self-normalized IPS of each policy over the program's resolved decisions."""
    checked = [check_policy(p) for p in policies]
    rows = session.scalars(
        select(DecisionRow).where(
            DecisionRow.program == program,
            DecisionRow.reward.is_not(None),
            DecisionRow.propensity.is_not(None),
            DecisionRow.channel.is_not(None),
        )
    ).all()
    result: dict[str, Any] = {"program": program, "decisions": len(rows), "policies": {}}
    if not rows:
        result["note"] = "no decision with a resolved reward yet"
        return result
    rewards = np.array([float(r.reward or 0.0) for r in rows])
    logging = np.array([float(r.propensity or 0.0) for r in rows])
    tables = [_factor_table(r) for r in rows]
    logged = [{f: str(getattr(r, f)) for f in FACTORS} for r in rows]
    for policy in checked:
        target = np.array(
            [
                float(np.prod([_target(policy, f, act[f], table[f]) for f in FACTORS if table[f]]))
                for act, table in zip(logged, tables, strict=True)
            ]
        )
        report = evaluate_policy(
            rewards=rewards, logging_propensity=logging, target_probability=target
        )
        result["policies"][policy] = report.as_dict()
    result["observed_mean_reward"] = round(float(rewards.mean()), 4)
    return result
