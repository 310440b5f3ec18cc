"""The questionnaires careloop can ask and check: ours (package data) plus licensed ones.

Our own instruments ship in ``feedback/questionnaires/*.json``. Licensed instruments
(PRO-CTCAE, PROMIS, ...) may not be bundled in an open-source repository, so a deployer who
holds the licence drops their Questionnaire JSON (or Bundles of them) into folders named by
``CARELOOP_FEEDBACK_QUESTIONNAIRES`` (``os.pathsep``-separated) or passes them explicitly.
Files that hold other resource types are listed in ``skipped``, never ignored silently.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import orjson

from careloop.errors import InvalidInput, NotFound

ENV_VAR = "CARELOOP_FEEDBACK_QUESTIONNAIRES"


@dataclass
class Catalog:
    """Questionnaires by every name a response may use: url, url|version, id, Questionnaire/id."""

    questionnaires: dict[str, dict[str, Any]] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    _own_urls: set[str] = field(default_factory=set, repr=False)

    def add(self, questionnaire: dict[str, Any]) -> None:
        qid = questionnaire.get("id")
        if not isinstance(qid, str) or not isinstance(questionnaire.get("item"), list):
            raise InvalidInput("a Questionnaire needs an id and items", field="Questionnaire.id")
        keys = [qid, f"Questionnaire/{qid}"]
        url = questionnaire.get("url")
        if isinstance(url, str):
            keys.append(url)
            if isinstance(questionnaire.get("version"), str):
                keys.append(f"{url}|{questionnaire['version']}")
        for key in keys:
            self.questionnaires[key] = questionnaire
        # A form derived from a standard one (our PHQ-9 from LOINC's 44249-1) also answers to
        # the standard canonical, unless a Questionnaire with that url is loaded itself.
        for canonical in questionnaire.get("derivedFrom") or []:
            if isinstance(canonical, str) and canonical not in self._own_urls:
                self.questionnaires[canonical] = questionnaire
        if isinstance(url, str):
            self._own_urls.add(url)

    def get(self, reference: str) -> dict[str, Any]:
        """The Questionnaire a response's ``questionnaire`` field names."""
        found = self.questionnaires.get(reference) or self.questionnaires.get(
            reference.split("|", 1)[0]
        )
        if found is None:
            raise NotFound(f"unknown questionnaire {reference[:200]!r}")
        return found

    def distinct(self) -> list[dict[str, Any]]:
        seen: dict[str, dict[str, Any]] = {}
        for q in self.questionnaires.values():
            seen.setdefault(q["id"], q)
        return [seen[k] for k in sorted(seen)]


def _add_document(catalog: Catalog, document: Any, *, name: str) -> None:
    rtype = document.get("resourceType") if isinstance(document, dict) else None
    if rtype == "Questionnaire":
        catalog.add(document)
    elif rtype == "Bundle":
        for entry in document.get("entry") or []:
            resource = entry.get("resource") if isinstance(entry, dict) else None
            if isinstance(resource, dict):
                _add_document(catalog, resource, name=name)
    else:
        catalog.skipped.append(f"{name}: {rtype or 'not a FHIR resource'}")


def load_folder(catalog: Catalog, folder: Path) -> None:
    """Add every Questionnaire found in ``folder``'s JSON files."""
    if not folder.is_dir():
        raise InvalidInput(f"questionnaire folder {folder} does not exist", field="questionnaires")
    for path in sorted(folder.glob("*.json")):
        try:
            document = orjson.loads(path.read_bytes())
        except orjson.JSONDecodeError:
            raise InvalidInput(f"{path.name} is not valid JSON", field="questionnaires") from None
        _add_document(catalog, document, name=path.name)


def load_catalog(extra_dirs: Iterable[Path] = ()) -> Catalog:
    """Our bundled questionnaires plus those in ``extra_dirs`` (later files win on a clash)."""
    catalog = Catalog()
    bundled = resources.files("careloop.feedback") / "questionnaires"
    for item in sorted(bundled.iterdir(), key=lambda p: p.name):
        if item.name.endswith(".json"):
            _add_document(catalog, orjson.loads(item.read_bytes()), name=item.name)
    for folder in extra_dirs:
        load_folder(catalog, Path(folder))
    return catalog


def configured_dirs() -> Sequence[Path]:
    value = os.environ.get(ENV_VAR, "")
    return [Path(p) for p in value.split(os.pathsep) if p]


@lru_cache(maxsize=1)
def default_catalog() -> Catalog:
    """The process-wide catalog (bundled + configured folders), read on first use."""
    return load_catalog(configured_dirs())
