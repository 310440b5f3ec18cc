"""A program's title for people to read, from its name (the slug stays in URLs and tooltips).

Staff and report readers know "Breast cancer screening", not ``breast-cancer-screening``.
The programs and journeys outreach runs carry a title; the other names a worklist item can
carry (a clinical rule set's ``oncology-symptoms``, an exam preparation's ``prep:colonoscopy``)
have none, so they are put in words from the name itself.

Titles come from the programs the running site has: the packaged library and journeys plus
its own folder (``outreach.programs_dir``, from the process settings unless a caller passes
its own), so a site's own program is shown by its title too.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from careloop.outreach.config import OutreachSettings, outreach_settings
from careloop.outreach.service import load_outreach_programs
from careloop.settings import get_settings

# Abbreviations in rule-set names, spelled out.
_WORDS = {"rpm": "remote monitoring", "bp": "blood pressure"}


@lru_cache(maxsize=8)
def _titles(programs_dir: str | None) -> dict[str, str]:
    """Titles of the programs with this extra folder (read once per folder: files on disk)."""
    found = load_outreach_programs(OutreachSettings(programs_dir=programs_dir))
    return {p.name: p.title for p in found if p.title}


@lru_cache(maxsize=1)
def _process_outreach() -> OutreachSettings:
    """The process's outreach settings (``CARELOOP_OUTREACH__...``), read once."""
    return outreach_settings(get_settings())[0]


def program_title(name: str, *, settings: OutreachSettings | None = None) -> str:
    """``Breast cancer screening`` for ``breast-cancer-screening``; a name no program or
    journey titles, in words: ``Oncology symptoms``, ``Colonoscopy prep`` (``prep:colonoscopy``).
    ``settings``: the runtime's outreach settings (the process's when None)."""
    own = settings if settings is not None else _process_outreach()
    found = _titles(own.programs_dir).get(name)
    if found:
        return found
    kind, _, what = name.partition(":")
    words = f"{what} {kind}" if what else kind
    spelled = [_WORDS.get(w, w) for w in re.split(r"[-_\s]+", words) if w]
    return " ".join(spelled).capitalize() or name


def report_titles(report: Mapping[str, Any]) -> dict[str, str]:
    """Each program of a program report (``insights.report.build_report``) by its title."""
    return {p["program"]: program_title(p["program"]) for p in report["programs"]}
