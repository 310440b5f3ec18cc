"""Resources of one type among plain dicts, Bundles, or both."""

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
