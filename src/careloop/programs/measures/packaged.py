"""Results of loaded measure packages in the ``measure evaluate`` shape, with the care gap.

The populations come from the published logic; the care gap follows the same rules as the
built-in definitions (in the denominator, not excluded, not excepted, numerator not met; the
numerator itself for an inverse measure). A package carries no nurse-readable wording, so the
reason names the measure; an episode-based measure counts the open episodes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from careloop.programs.elm.measure import ElmMeasure
from careloop.programs.measures.evaluate import deceased_by

Resource = dict[str, Any]


def by_type(resources: list[Resource]) -> dict[str, list[Resource]]:
    grouped: dict[str, list[Resource]] = {}
    for resource in resources:
        grouped.setdefault(str(resource.get("resourceType")), []).append(resource)
    return grouped


def _episode_gap(measure: ElmMeasure, result: dict[str, int]) -> tuple[bool, str]:
    open_episodes = (
        result.get("denominator", result["initial-population"])
        - result.get("denominator-exclusion", 0)
        - result.get("denominator-exception", 0)
        - result.get("numerator", 0)
    )
    if open_episodes > 0:
        return True, f"{open_episodes} qualifying encounter(s) do not meet {measure.title}"
    if result["initial-population"]:
        return False, "every qualifying encounter meets the measure"
    return False, "no qualifying encounter in the period"


def _group_gap(measure: ElmMeasure, result: dict[str, int]) -> tuple[bool, str]:
    if not result.get("denominator", result["initial-population"]):
        return False, "not in the measure's eligible population"
    if result.get("denominator-exclusion"):
        return False, "excluded: meets a denominator exclusion of the measure"
    if result.get("denominator-exception"):
        return False, "exception: a denominator exception of the measure applies"
    met = bool(result.get("numerator"))
    if measure.inverse:
        return (True, f"in the numerator of {measure.title}") if met else (False, "care up to date")
    return (False, "care up to date") if met else (True, f"{measure.title} not met in the period")


def _care_gap(measure: ElmMeasure, groups: list[dict[str, int]]) -> tuple[bool, str]:
    """The first group's answer; with several groups, a gap in any group is the gap."""
    if not measure.groups[0].boolean_basis:
        return _episode_gap(measure, groups[0])
    answers = [_group_gap(measure, result) for result in groups]
    open_groups = [i + 1 for i, (gap, _) in enumerate(answers) if gap]
    if not open_groups or len(groups) == 1:
        return answers[0]
    numbers = ", ".join(str(i) for i in open_groups)
    return True, f"{measure.title} not met in the period (group {numbers})"


def evaluate_packaged(
    measure: ElmMeasure,
    resources: list[Resource],
    *,
    patient_id: str,
    start: datetime,
    end: datetime,
    outreach: bool = False,
) -> dict[str, Any]:
    """One patient's populations and care gap; ``outreach`` runs the ELM-derived outreach
    variant (``elm/outreach.py``) and never flags a deceased patient."""
    grouped = by_type(resources)
    run = measure.outreach() if outreach else measure
    groups = run.evaluate(grouped, start=start, end=end)
    gap, reason = _care_gap(run, groups)
    patients = grouped.get("Patient") or [{}]
    if outreach and deceased_by(patients[0], end):
        gap, reason = False, "patient is deceased"
    return {
        "patient": patient_id,
        "measure": measure.cms_id,
        "groups": groups,
        "care_gap": gap,
        "reason": reason,
    }
