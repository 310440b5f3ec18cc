"""Results of loaded measure packages in the ``measure evaluate`` shape, with the care gap.

The populations come from the published logic; the care gap follows the same rules as the
built-in definitions (in the denominator, not excluded, not excepted, numerator not met; the
numerator itself for an inverse measure). A package carries no nurse-readable wording, so the
reason names the measure; an episode-based measure counts the open episodes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from careloop.errors import InvalidInput
from careloop.programs.elm.measure import ElmMeasure

Resource = dict[str, Any]


def by_type(resources: list[Resource]) -> dict[str, list[Resource]]:
    grouped: dict[str, list[Resource]] = {}
    for resource in resources:
        grouped.setdefault(str(resource.get("resourceType")), []).append(resource)
    return grouped


def _care_gap(measure: ElmMeasure, groups: list[dict[str, int]]) -> tuple[bool, str]:
    result = groups[0]
    if not measure.groups[0].boolean_basis:
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


def evaluate_packaged(
    measure: ElmMeasure,
    resources: list[Resource],
    *,
    patient_id: str,
    start: datetime,
    end: datetime,
    outreach: bool = False,
) -> dict[str, Any]:
    if outreach:
        raise InvalidInput(
            f"{measure.cms_id}: outreach mode needs a built-in definition (it marks the "
            "qualifying-visit requirement); a loaded package runs in reporting mode only",
            field="outreach",
        )
    groups = measure.evaluate(by_type(resources), start=start, end=end)
    gap, reason = _care_gap(measure, groups)
    return {
        "patient": patient_id,
        "measure": measure.cms_id,
        "groups": groups,
        "care_gap": gap,
        "reason": reason,
    }
