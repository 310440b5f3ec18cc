"""Value sets of programs and segments: the shipped program files plus the eCQM value sets.

A program value set is a FHIR ``ValueSet`` file in ``programs/valuesets/`` that lists codes
(``expansion.contains`` or ``compose.include[].concept``) and may include other value sets by
canonical URL — most often the VSAC value sets the measures already ship, so a code list is
never copied twice. Each becomes a frozenset of ``(system, code)`` pairs, like the measures'.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import orjson

from careloop.errors import InvalidInput
from careloop.programs.measures.valuesets import CodeSet, registry

VALUESET_DIR = Path(__file__).with_name("valuesets")


def _read_all() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for path in sorted(VALUESET_DIR.glob("*.json")):
        resource = orjson.loads(path.read_bytes())
        if resource.get("resourceType") != "ValueSet" or "url" not in resource:
            raise InvalidInput(f"{path.name} is not a ValueSet with a url", field="valueset")
        found[str(resource["url"]).split("|", 1)[0]] = resource
    return found


def _codes_of(url: str, resources: dict[str, dict[str, Any]], seen: frozenset[str]) -> CodeSet:
    if url in seen:
        raise InvalidInput(f"value set {url} includes itself", field="valueset")
    resource = resources.get(url)
    if resource is None:
        measure_codes = registry().get(url.replace("https://cts", "http://cts", 1))
        if measure_codes is None:
            raise InvalidInput(f"unknown value set {url}", field="valueset")
        return measure_codes
    codes: set[tuple[str, str]] = set()
    for item in (resource.get("expansion") or {}).get("contains", ()):
        if "system" in item and "code" in item:
            codes.add((item["system"], item["code"]))
    for include in (resource.get("compose") or {}).get("include", ()):
        for concept in include.get("concept", ()):
            codes.add((include["system"], concept["code"]))
        for reference in include.get("valueSet", ()):
            codes |= _codes_of(str(reference), resources, seen | {url})
    return frozenset(codes)


@lru_cache(maxsize=1)
def program_registry() -> dict[str, CodeSet]:
    """Every program value set by canonical URL and by id."""
    resources = _read_all()
    found: dict[str, CodeSet] = {}
    for url, resource in resources.items():
        found[url] = _codes_of(url, resources, frozenset())
        found[str(resource.get("id", url))] = found[url]
    return found


def program_valueset(reference: str) -> CodeSet:
    """A value set by canonical URL or id: program files first, then the eCQM value sets."""
    key = reference.split("|", 1)[0]
    codes = program_registry().get(key)
    if codes is not None:
        return codes
    codes = registry().get(key.replace("https://", "http://", 1))
    if codes is None:
        raise InvalidInput(f"unknown value set {reference}", field="valueset")
    return codes


def parse_codes(texts: list[str], *, systems: dict[str, str], field: str) -> CodeSet:
    """``SYSTEM|code`` strings (SYSTEM an alias from ``systems`` or a URL) as a code set."""
    pairs: set[tuple[str, str]] = set()
    for text in texts:
        system, sep, code = str(text).rpartition("|")
        if not sep or not system or not code:
            raise InvalidInput(f"code {text!r} must look like SYSTEM|code", field=field)
        pairs.add((systems.get(system, system), code))
    return frozenset(pairs)


# Short names for code systems in program and segment files.
SYSTEMS = {
    "SNOMEDCT": "http://snomed.info/sct",
    "LOINC": "http://loinc.org",
    "CVX": "http://hl7.org/fhir/sid/cvx",
    "ICD10CM": "http://hl7.org/fhir/sid/icd-10-cm",
    "CPT": "http://www.ama-assn.org/go/cpt",
    "RXNORM": "http://www.nlm.nih.gov/research/umls/rxnorm",
}
