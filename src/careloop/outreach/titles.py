"""A program's title for people to read, from its name (the slug stays in URLs and tooltips).

Staff and report readers know "Breast cancer screening", not ``breast-cancer-screening``.
The programs and journeys outreach runs carry a title; the other names a worklist item can
carry (a clinical rule set's ``oncology-symptoms``, an exam preparation's ``prep:colonoscopy``)
have none, so they are put in words from the name itself.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from careloop.outreach.config import OutreachSettings
from careloop.outreach.service import load_outreach_programs

# Abbreviations in rule-set names, spelled out.
_WORDS = {"rpm": "remote monitoring", "bp": "blood pressure"}


@lru_cache(maxsize=1)
def _titles() -> dict[str, str]:
    return {p.name: p.title for p in load_outreach_programs(OutreachSettings()) if p.title}


def program_title(name: str) -> str:
    """``Breast cancer screening`` for ``breast-cancer-screening``; a name no program or
    journey titles, in words: ``Oncology symptoms``, ``Colonoscopy prep`` (``prep:colonoscopy``)."""
    found = _titles().get(name)
    if found:
        return found
    kind, _, what = name.partition(":")
    words = f"{what} {kind}" if what else kind
    spelled = [_WORDS.get(w, w) for w in re.split(r"[-_\s]+", words) if w]
    return " ".join(spelled).capitalize() or name


def report_titles(report: Mapping[str, Any]) -> dict[str, str]:
    """Each program of a program report (``insights.report.build_report``) by its title."""
    return {p["program"]: program_title(p["program"]) for p in report["programs"]}
