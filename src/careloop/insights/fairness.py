"""Fairness review: a rate per group, its ratio to the best group, a flag below a set ratio.

Used for model scores (share flagged high-risk, sensitivity) and, later, engagement and
completion. Groups smaller than the small-cell limit are neither "best" nor flagged (their
rates are too noisy to judge) and their counts and rates are suppressed in exports, the usual
public-health rule that stops a small group's members from being re-identified.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Container, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from careloop.errors import InvalidInput

DEFAULT_MIN_RATIO = 0.8
SMALL_CELL = 11


@dataclass(frozen=True, slots=True)
class GroupRates:
    """One group's counts and rates."""

    group: str
    n: int
    selected: int
    selection_rate: float
    outcome_rate: float | None
    true_positive_rate: float | None
    ppv: float | None
    mean_score: float | None
    selection_ratio: float | None
    tpr_ratio: float | None
    below_ratio: bool | None


@dataclass(frozen=True, slots=True)
class FairnessReport:
    """Per-group rates for one attribute (e.g. sex), with flags."""

    attribute: str
    min_ratio: float
    groups: list[GroupRates]

    @property
    def flagged_groups(self) -> list[str]:
        return [g.group for g in self.groups if g.below_ratio]

    def export(self, *, small_cell: int = SMALL_CELL) -> dict[str, Any]:
        """A JSON-ready view with counts (and rates from counts) < ``small_cell`` suppressed."""
        rows: list[dict[str, Any]] = []
        for g in self.groups:
            small = g.n < small_cell
            row: dict[str, Any] = {"group": g.group, "suppressed": small}
            if small:
                row.update(
                    dict.fromkeys(
                        (
                            "n",
                            "selected",
                            "selection_rate",
                            "outcome_rate",
                            "true_positive_rate",
                            "ppv",
                            "mean_score",
                        )
                    )
                )
            else:
                row.update(
                    n=g.n,
                    selected=g.selected if g.selected >= small_cell or g.selected == 0 else None,
                    selection_rate=g.selection_rate,
                    outcome_rate=g.outcome_rate,
                    true_positive_rate=g.true_positive_rate,
                    ppv=g.ppv,
                    mean_score=g.mean_score,
                )
            row.update(
                selection_ratio=g.selection_ratio, tpr_ratio=g.tpr_ratio, below_ratio=g.below_ratio
            )
            rows.append(row)
        return {
            "attribute": self.attribute,
            "min_ratio": self.min_ratio,
            "small_cell": small_cell,
            "flagged_groups": self.flagged_groups,
            "groups": rows,
        }


def _ratio(value: float | None, best: float | None) -> float | None:
    if value is None or best is None or best == 0:
        return None
    return value / best


def group_fairness(
    *,
    attribute: str,
    groups: Sequence[str],
    selected: Sequence[bool],
    outcomes: Sequence[bool] | None = None,
    scores: Sequence[float] | None = None,
    min_ratio: float = DEFAULT_MIN_RATIO,
    small_cell: int = SMALL_CELL,
) -> FairnessReport:
    """Rates by group for one attribute.

    ``selected`` is what the system did (e.g. flagged for an extra reminder); ``outcomes`` what
    happened (e.g. missed the appointment). A group is flagged when its selection rate, or its
    true-positive rate (the share of its actual positives that were selected), is below
    ``min_ratio`` times the best eligible group's.
    """
    if not 0 < min_ratio <= 1:
        raise InvalidInput("min_ratio must be in (0, 1]", field="min_ratio")
    n = len(groups)
    if len(selected) != n or (outcomes is not None and len(outcomes) != n):
        raise InvalidInput("groups, selected and outcomes differ in length", field="groups")
    if scores is not None and len(scores) != n:
        raise InvalidInput("groups and scores differ in length", field="scores")
    members: dict[str, list[int]] = defaultdict(list)
    for index, group in enumerate(groups):
        members[group].append(index)

    raw: list[dict[str, Any]] = []
    for group in sorted(members):
        idx = members[group]
        chosen = sum(1 for i in idx if selected[i])
        row: dict[str, Any] = {
            "group": group,
            "n": len(idx),
            "selected": chosen,
            "selection_rate": chosen / len(idx),
            "outcome_rate": None,
            "true_positive_rate": None,
            "ppv": None,
            "mean_score": None,
        }
        if outcomes is not None:
            positives = [i for i in idx if outcomes[i]]
            hits = sum(1 for i in positives if selected[i])
            row["outcome_rate"] = len(positives) / len(idx)
            row["true_positive_rate"] = hits / len(positives) if positives else None
            row["ppv"] = hits / chosen if chosen else None
        if scores is not None:
            row["mean_score"] = sum(scores[i] for i in idx) / len(idx)
        raw.append(row)

    eligible = [r for r in raw if r["n"] >= small_cell]
    best_selection = max((r["selection_rate"] for r in eligible), default=None)
    tprs = [r["true_positive_rate"] for r in eligible if r["true_positive_rate"] is not None]
    best_tpr = max(tprs, default=None)
    result: list[GroupRates] = []
    for r in raw:
        judged = r["n"] >= small_cell
        selection_ratio = _ratio(r["selection_rate"], best_selection) if judged else None
        tpr_ratio = _ratio(r["true_positive_rate"], best_tpr) if judged else None
        below: bool | None = None
        if judged:
            below = any(x is not None and x < min_ratio for x in (selection_ratio, tpr_ratio))
        result.append(
            GroupRates(**r, selection_ratio=selection_ratio, tpr_ratio=tpr_ratio, below_ratio=below)
        )
    return FairnessReport(attribute=attribute, min_ratio=min_ratio, groups=result)


def outcome_review(
    *,
    outcome: str,
    attribute: str,
    population: Sequence[str],
    hits: Container[str],
    attributes: Mapping[str, Mapping[str, str]],
    min_ratio: float,
) -> dict[str, Any]:
    """The exported review of one outcome (``hits`` among ``population``) by one reporting
    attribute; a patient without the attribute counts in the group ``unknown``."""
    report = group_fairness(
        attribute=attribute,
        groups=[attributes.get(p, {}).get(attribute, "unknown") for p in population],
        selected=[p in hits for p in population],
        min_ratio=min_ratio,
    )
    return {"outcome": outcome, **report.export()}
