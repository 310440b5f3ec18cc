"""Likelihood-to-recommend (NPS) and CSAT from survey answers.

* NPS: 0-10 answers; promoters 9-10, passives 7-8, detractors 0-6; NPS = % promoters −
  % detractors, in percentage points (-100..100).
* CSAT: 1-5 answers; the share answering 4 or 5 ("satisfied" or better), in percent — the
  usual top-two-box definition.

Answers are read from FHIR ``QuestionnaireResponse`` items by ``linkId`` (``valueInteger``, a
numeric ``valueDecimal``, or a ``valueCoding`` whose code is the number).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from careloop.errors import InvalidInput
from careloop.fhirdata.bundles import resources_of


@dataclass(frozen=True, slots=True)
class Nps:
    """Net promoter score with its parts."""

    n: int
    promoters: int
    passives: int
    detractors: int

    @property
    def score(self) -> float | None:
        """Promoters minus detractors, in percentage points."""
        if not self.n:
            return None
        return 100.0 * (self.promoters - self.detractors) / self.n


@dataclass(frozen=True, slots=True)
class Csat:
    """Customer-satisfaction share (top two boxes of a 1-5 scale)."""

    n: int
    satisfied: int

    @property
    def percent(self) -> float | None:
        return 100.0 * self.satisfied / self.n if self.n else None


def _checked(scores: Iterable[int], *, low: int, high: int, field: str) -> list[int]:
    values = list(scores)
    for value in values:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise InvalidInput(f"answers must be whole numbers {low}-{high}", field=field)
    return values


def net_promoter_score(scores: Iterable[int]) -> Nps:
    """NPS of 0-10 likelihood-to-recommend answers."""
    values = _checked(scores, low=0, high=10, field="likelihood_to_recommend")
    return Nps(
        n=len(values),
        promoters=sum(1 for v in values if v >= 9),
        passives=sum(1 for v in values if 7 <= v <= 8),
        detractors=sum(1 for v in values if v <= 6),
    )


def csat(scores: Iterable[int]) -> Csat:
    """CSAT of 1-5 satisfaction answers."""
    values = _checked(scores, low=1, high=5, field="satisfaction")
    return Csat(n=len(values), satisfied=sum(1 for v in values if v >= 4))


def csat_by(pairs: Iterable[tuple[str, int]]) -> dict[str, Csat]:
    """CSAT per group, e.g. per journey stage: ``[(stage, score), ...]``."""
    grouped: dict[str, list[int]] = defaultdict(list)
    for group, score in pairs:
        grouped[group].append(score)
    return {group: csat(scores) for group, scores in sorted(grouped.items())}


def _items(items: Iterable[Mapping[str, Any]]) -> Iterator[Mapping[str, Any]]:
    for item in items:
        yield item
        yield from _items(item.get("item") or [])
        for answer in item.get("answer") or []:
            yield from _items(answer.get("item") or [])


def _number(answer: Mapping[str, Any]) -> int | None:
    if isinstance(answer.get("valueInteger"), int):
        return int(answer["valueInteger"])
    decimal = answer.get("valueDecimal")
    if isinstance(decimal, int | float) and float(decimal).is_integer():
        return int(decimal)
    coding = answer.get("valueCoding")
    if isinstance(coding, Mapping):
        code = coding.get("code")
        if isinstance(code, str) and code.lstrip("-").isdigit():
            return int(code)
    return None


def answers(resources: Iterable[Mapping[str, Any]], *, link_id: str) -> list[int]:
    """Numeric answers to item ``link_id`` in completed ``QuestionnaireResponse`` resources."""
    found: list[int] = []
    for response in resources_of(resources, "QuestionnaireResponse"):
        if response.get("status") not in ("completed", "amended"):
            continue
        for item in _items(response.get("item") or []):
            if item.get("linkId") != link_id:
                continue
            for answer in item.get("answer") or []:
                value = _number(answer)
                if value is not None:
                    found.append(value)
    return found
