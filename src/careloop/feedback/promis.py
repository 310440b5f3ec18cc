"""PROMIS Global-10 summary scores: Global Physical and Global Mental Health, raw and T-score.

The Global-10 (LOINC panel 85524-7, items Global01-Global10 = 61577-3 ... 61586-4) is
scored on two 4-item scales (Hays et al. 2009; PROMIS Global Health scoring manual):

- Global Physical Health (GPH) = Global03 + Global06 + Global07rc + Global08r
- Global Mental Health (GMH) = Global02 + Global04 + Global05 + Global10r

Global07 (pain, 0-10) is recoded to 1-5 (``Global07rc``); Global08r and Global10r are the
fatigue and emotional-problems items as printed on the form, already reversed (None /
Never = 5), so higher is better on every scored item. The raw sums (4-20) map to T-scores
(mean 50, SD 10 in the US general population) through the published tables bundled in
``data/promis_global10_tscores.csv``. Scores work on the LOINC item codes, never on the item
text, which is licensed and not bundled. Like the PHQ-9 total, a score a sender stored is
checked against the answers: a wrong T-score could hide a patient in poor health.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from functools import lru_cache
from importlib import resources
from typing import Any

from careloop.errors import InvalidInput
from careloop.feedback.checkins import LOINC, ItemAnswer, walk_items

PANEL = "85524-7"
ITEM_CODES = {
    "Global01": "61577-3",
    "Global02": "61578-1",
    "Global03": "61579-9",
    "Global04": "61580-7",
    "Global05": "61581-5",
    "Global06": "61582-3",
    "Global07": "61583-1",
    "Global08": "61584-9",
    "Global09": "61585-6",
    "Global10": "61586-4",
}
"""PROMIS item ids → LOINC (LOINC 85524-7 panel; HL7 PACIO-PFE ConceptMap LOINCtoICF)."""

GPH_RAW, GPH_T = "71972-4", "71971-6"
GMH_RAW, GMH_T = "71970-8", "71969-0"
_SCALES = (
    (GPH_RAW, GPH_T, "gph_t", ("Global03", "Global06", "Global07", "Global08")),
    (GMH_RAW, GMH_T, "gmh_t", ("Global02", "Global04", "Global05", "Global10")),
)
SCORE_CODES = (GPH_RAW, GPH_T, GMH_RAW, GMH_T)
_TOLERANCE = 0.05  # T-scores are published to one decimal


def recode_pain(pain: float) -> int:
    """Global07 (0-10) → Global07rc (5 = no pain ... 1 = worst), per the scoring manual."""
    if pain <= 0:
        return 5
    if pain <= 3:
        return 4
    if pain <= 6:
        return 3
    if pain <= 9:
        return 2
    return 1


@lru_cache(maxsize=1)
def t_score_table() -> dict[str, dict[int, float]]:
    """{"gph_t": {raw: T}, "gmh_t": {raw: T}} from the bundled published table."""
    text = (
        resources.files("careloop.feedback") / "data" / "promis_global10_tscores.csv"
    ).read_text(encoding="utf-8")
    rows = csv.DictReader(io.StringIO("\n".join(ln for ln in text.splitlines() if ln[:1] != "#")))
    table: dict[str, dict[int, float]] = {"gph_t": {}, "gmh_t": {}}
    for row in rows:
        for column, scores in table.items():
            scores[int(row["raw"])] = float(row[column])
    return table


def _item_value(answers: Mapping[str, ItemAnswer], item: str) -> float | None:
    answer = answers.get(f"{LOINC}|{ITEM_CODES[item]}")
    return answer.number if answer is not None else None


def global10_scores(answers: Mapping[str, ItemAnswer]) -> dict[str, float]:
    """The summary scores (LOINC code → value) of every scale whose four items are answered."""
    scores: dict[str, float] = {}
    table = t_score_table()
    for raw_code, t_code, column, items in _SCALES:
        values = [_item_value(answers, item) for item in items]
        if any(v is None for v in values):
            continue
        known = [v for v in values if v is not None]
        points = [
            recode_pain(v) if item == "Global07" else v
            for item, v in zip(items, known, strict=True)
        ]
        raw = int(sum(points))
        scores[raw_code] = float(raw)
        scores[t_code] = table[column][raw]
    return scores


def is_global10(questionnaire: Mapping[str, Any]) -> bool:
    """A Global-10 form: coded with the panel, or carrying its scored item codes."""
    codes = {c.get("code") for c in questionnaire.get("code") or [] if isinstance(c, dict)}
    if PANEL in codes:
        return True
    items = {
        c.get("code")
        for item in walk_items(questionnaire.get("item"))
        for c in item.get("code") or []
        if isinstance(c, dict) and c.get("system") == LOINC
    }
    return set(ITEM_CODES.values()) <= items


def apply_global10_scores(questionnaire: Mapping[str, Any], answers: dict[str, ItemAnswer]) -> None:
    """Put the computed scores into ``answers`` (keyed ``http://loinc.org|<code>``), refusing
    a stored score that disagrees with the answers (naming the score's item)."""
    if not is_global10(questionnaire):
        return
    computed = global10_scores(answers)
    for code in SCORE_CODES:
        key = f"{LOINC}|{code}"
        stored = answers.pop(key, None)
        value = computed.get(code)
        given = stored.number if stored is not None else None
        if (
            stored is not None
            and given is not None
            and value is not None
            and abs(given - value) > _TOLERANCE
        ):
            raise InvalidInput(
                f"item {stored.link_id}: stored score {given:g} does not match the answers, "
                f"which score {value:g}",
                field=f"item.{stored.link_id}",
            )
        if value is not None:
            link_id = stored.link_id if stored is not None else code
            answers[key] = ItemAnswer(
                link_id=link_id, key=key, value=value, ordinal=None, text="score"
            )
