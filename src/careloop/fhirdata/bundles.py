"""Resources of one type among plain dicts, Bundles, or both; a collection Bundle of some."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any


def resources_of(resources: Iterable[Any], resource_type: str) -> Iterator[Mapping[str, Any]]:
    """The resources of ``resource_type``, looking inside Bundles' entries."""
    for resource in resources:
        if not isinstance(resource, Mapping):
            continue
        if resource.get("resourceType") == "Bundle":
            entries = [e.get("resource") for e in resource.get("entry") or []]
            yield from resources_of(entries, resource_type)
        elif resource.get("resourceType") == resource_type:
            yield resource


def collection(resources: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """A ``collection`` Bundle of these resources (how a demo or a pilot hands its synthetic
    patients to the importer)."""
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": r} for r in resources],
    }
