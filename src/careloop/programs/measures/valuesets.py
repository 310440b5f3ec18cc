"""Value sets, loaded once from the VSAC ValueSet bundles shipped in ``valuesets/``.

Each value set becomes a frozenset of ``(system, code)`` pairs, so "is this coding in the value
set" is one hash lookup and "does the patient have any code of it" is one set intersection.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any

import orjson

from careloop.errors import InvalidInput

VALUESET_DIR = Path(__file__).with_name("valuesets")
CodeSet = frozenset[tuple[str, str]]


def _canonical(url: str) -> str:
    # One upstream file spells its url with https while the logic uses http (SOURCE.md).
    return url.replace("https://", "http://", 1).split("|", 1)[0]


def _collect(contains: Iterable[dict[str, Any]], into: set[tuple[str, str]]) -> None:
    for item in contains:
        if "code" in item and "system" in item:
            into.add((item["system"], item["code"]))
        if "contains" in item:
            _collect(item["contains"], into)


@lru_cache(maxsize=1)
def registry() -> dict[str, CodeSet]:
    """Every value set of every shipped bundle, by canonical url (and by bare OID)."""
    found: dict[str, CodeSet] = {}
    for path in sorted(VALUESET_DIR.glob("*.json")):
        bundle = orjson.loads(path.read_bytes())
        for entry in bundle.get("entry", []):
            resource = entry.get("resource", {})
            if resource.get("resourceType") != "ValueSet":
                continue
            codes: set[tuple[str, str]] = set()
            _collect(resource.get("expansion", {}).get("contains", []), codes)
            url = _canonical(resource["url"])
            found[url] = frozenset(codes)
            found[url.rsplit("/", 1)[-1]] = found[url]
    return found


def valueset(reference: str) -> CodeSet:
    """The codes of a value set named by canonical url or OID."""
    codes = registry().get(_canonical(reference))
    if codes is None:
        raise InvalidInput(f"unknown value set {reference}", field="valueset")
    return codes
