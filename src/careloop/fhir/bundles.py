"""Search results as a ``searchset`` Bundle with ``self``/``next``/``previous`` links."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from careloop.fhir.params import SearchQuery
from careloop.fhir.search import SearchResult
from careloop.fhir.versions import with_meta


def full_url(base_url: str, resource: dict[str, Any]) -> str:
    return f"{base_url}/{resource['resourceType']}/{resource['id']}"


def _link(base_url: str, query: SearchQuery, offset: int) -> str:
    pairs = [(k, v) for k, v in query.raw if k not in ("_offset", "_count")]
    pairs += [("_count", str(query.count)), ("_offset", str(offset))]
    return f"{base_url}/{query.resource_type}?{urlencode(pairs)}"


def searchset(
    result: SearchResult, query: SearchQuery, *, base_url: str, now: datetime
) -> dict[str, Any]:
    links = [{"relation": "self", "url": _link(base_url, query, query.offset)}]
    if query.count and query.offset + query.count < result.total:
        links.append(
            {"relation": "next", "url": _link(base_url, query, query.offset + query.count)}
        )
    if query.offset > 0:
        previous = max(0, query.offset - query.count)
        links.append({"relation": "previous", "url": _link(base_url, query, previous)})
    entries = []
    for mode, items in (("match", result.matches), ("include", result.included)):
        for item in items:
            resource = with_meta(item.resource, last_updated=item.last_updated)
            entries.append(
                {
                    "fullUrl": full_url(base_url, resource),
                    "resource": resource,
                    "search": {"mode": mode},
                }
            )
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "timestamp": now.isoformat().replace("+00:00", "Z"),
        "total": result.total,
        "link": links,
        "entry": entries,
    }
