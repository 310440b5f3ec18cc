"""``meta.versionId``, ``meta.lastUpdated`` and the ETag of a resource as served.

careloop keeps the current version of each resource only, so its version id is a digest of
the content: any change gives a new id, and equal content (a re-sent reading) the same one,
which is exactly what ``If-None-Match`` and ``If-Match`` need.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

import orjson


def version_id(resource: dict[str, Any]) -> str:
    body = {k: v for k, v in resource.items() if k != "meta"}
    meta = {
        k: v
        for k, v in (resource.get("meta") or {}).items()
        if k not in ("versionId", "lastUpdated")
    }
    if meta:
        body["meta"] = meta
    return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]


def with_meta(resource: dict[str, Any], *, last_updated: datetime | None) -> dict[str, Any]:
    """A copy of ``resource`` with its version id and last update in ``meta``."""
    served = dict(resource)
    meta = dict(served.get("meta") or {})
    meta["versionId"] = version_id(resource)
    if last_updated is not None:
        meta["lastUpdated"] = last_updated.isoformat().replace("+00:00", "Z")
    served["meta"] = meta
    return served


def etag(resource: dict[str, Any]) -> str:
    return f'W/"{resource["meta"]["versionId"]}"'
