"""Read FHIR Bundle JSON and NDJSON files into per-patient resource lists.

This is the measure engine's own small reader for ``careloop measure evaluate PATH...``; the
records domain owns the real import (strict reference resolution, orphans reported).
References by ``urn:uuid:`` (transaction bundles) are resolved to the Patient's id.
MeasureReports (the expected results inside test bundles) and other non-clinical resources
are skipped.

**Test-deck semantics.** The official eCQM test decks evaluate each test bundle as one
patient's whole record (the reference engines load a bundle as the patient's data). Bundles
exported by the measure authoring tool sometimes reference the patient by another id
(``Patient/Patient-1``) or not at all. So a Bundle holding exactly one Patient gives every
clinical resource in it to that Patient; the ids of patients read this way are reported to
the caller (``test_deck``) when a resource was given to the Patient only by this rule.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import orjson

from careloop.errors import InvalidInput

Resource = dict[str, Any]
SKIPPED = frozenset({"MeasureReport", "Parameters", "Bundle", "OperationOutcome"})
SHARED_TYPES = frozenset({"Medication", "Organization", "Practitioner", "Location"})
PATIENT_FIELDS = ("subject", "patient", "beneficiary")


def _files(paths: Iterable[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_dir():
            yield from sorted(
                p for p in path.rglob("*") if p.suffix in (".json", ".ndjson") and p.is_file()
            )
        elif path.is_file():
            yield path
        else:
            raise InvalidInput(f"no such file or folder: {path}", field="path")


def _load(path: Path) -> list[tuple[str | None, Resource]]:
    """(fullUrl, resource) pairs of one file; a clear error if it is not FHIR JSON."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror}", field="path") from None
    try:
        if path.suffix == ".ndjson":
            return [(None, orjson.loads(line)) for line in raw.splitlines() if line.strip()]
        document = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise InvalidInput(f"{path} is not valid JSON", field="path") from None
    if not isinstance(document, dict) or "resourceType" not in document:
        raise InvalidInput(f"{path} is not a FHIR resource or Bundle", field="path")
    if document["resourceType"] != "Bundle":
        return [(None, document)]
    return [
        (entry.get("fullUrl"), entry["resource"])
        for entry in document.get("entry", [])
        if isinstance(entry, dict) and isinstance(entry.get("resource"), dict)
    ]


def _patient_of(resource: Resource, aliases: dict[str, str]) -> str | None:
    for name in PATIENT_FIELDS:
        ref = resource.get(name)
        if isinstance(ref, dict) and isinstance(ref.get("reference"), str):
            target = str(ref["reference"])
            if target in aliases:
                return aliases[target]
            if "Patient/" in target:
                return str(target.rsplit("Patient/", 1)[-1].split("/", 1)[0])
    return None


def _sole_patient(path: Path, pairs: list[tuple[str | None, Resource]]) -> str | None:
    """The id of the one Patient of a Bundle file (test-deck semantics), else None."""
    if path.suffix == ".ndjson":
        return None
    ids = [str(r["id"]) for _u, r in pairs if r.get("resourceType") == "Patient" and "id" in r]
    return ids[0] if len(ids) == 1 and len(pairs) > 1 else None


def read_patients(
    paths: Iterable[str | Path], *, test_deck: set[str] | None = None
) -> Iterator[tuple[str, list[Resource]]]:
    """Yield (Patient.id, resources with the Patient first) for every patient in the files.

    ``test_deck`` collects the ids of patients whose record needed test-deck semantics.
    """
    patients: dict[str, list[Resource]] = {}
    for path in _files(Path(p) for p in paths):
        pairs = _load(path)
        deck_patient = _sole_patient(path, pairs)
        aliases: dict[str, str] = {}
        for full_url, resource in pairs:
            if resource.get("resourceType") == "Patient" and "id" in resource:
                pid = str(resource["id"])
                aliases[f"Patient/{pid}"] = pid
                if full_url:
                    aliases[full_url] = pid
                patients.setdefault(pid, []).insert(0, resource)
        shared = [r for _u, r in pairs if r.get("resourceType") in SHARED_TYPES]
        owners: set[str] = set()
        for _url, resource in pairs:
            rtype = resource.get("resourceType")
            if rtype in SKIPPED or rtype == "Patient" or rtype in SHARED_TYPES:
                continue
            owner = _patient_of(resource, aliases)
            if deck_patient is not None and owner != deck_patient:
                if test_deck is not None:
                    test_deck.add(deck_patient)
                owner = deck_patient
            if owner is None:
                continue
            patients.setdefault(owner, []).append(resource)
            owners.add(owner)
        if shared and len(owners) == 1:
            patients[next(iter(owners))].extend(shared)
    for pid, resources in patients.items():
        if resources and resources[0].get("resourceType") == "Patient":
            yield pid, resources
