"""Who earns rewards: counts and value by segment, and the fairness review of earning.

Rewards are an outcome like completion: if patients who speak Spanish, or the oldest, earn
less often than others, the program rewards who was already coming. The review is the same
:func:`careloop.insights.fairness.group_fairness` the programs get, over the living patients
(earned at least one reward in the period, cancelled ones excepted); small cells are hidden.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from careloop.insights.fairness import SMALL_CELL, outcome_review
from careloop.loyalty.ledger import earners


def _shown(count: int) -> int | None:
    return count if count == 0 or count >= SMALL_CELL else None


def _row(members: list[str], earned: Mapping[str, tuple[int, int]]) -> dict[str, Any]:
    who = [p for p in members if p in earned]
    small = 0 < len(members) < SMALL_CELL or _shown(len(who)) is None
    return {
        "patients": _shown(len(members)),
        "earners": _shown(len(who)),
        "earner_rate": None if small or not members else round(len(who) / len(members), 4),
        "rewards": None if small else sum(earned[p][0] for p in who),
        "value_cents": None if small else sum(earned[p][1] for p in who),
        "suppressed": small,
    }


def rewards_section(
    session: Session,
    *,
    start: datetime,
    end: datetime,
    segments: Mapping[str, set[str]],
    attributes: Mapping[str, Mapping[str, str]],
    fairness_attributes: tuple[str, ...],
    min_ratio: float,
) -> dict[str, Any]:
    """Rewards earned in the period, overall, by segment and by reporting attribute."""
    earned = {p: v for p, v in earners(session, since=start, until=end).items() if p in segments}
    population = sorted(segments)
    names = sorted({name for found in segments.values() for name in found})
    fairness = (
        [
            outcome_review(
                outcome="earned_reward",
                attribute=attribute,
                population=population,
                hits=earned,
                attributes=attributes,
                min_ratio=min_ratio,
            )
            for attribute in fairness_attributes
        ]
        if population
        else []
    )
    return {
        "overall": _row(population, earned),
        "by_segment": [
            {"segment": name, **_row([p for p in population if name in segments[p]], earned)}
            for name in names
        ],
        "fairness": fairness,
    }
