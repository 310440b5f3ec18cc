"""Where a sign-in may send the browser next: a same-origin path, or nowhere.

Browsers drop tabs and newlines from URLs and read ``\\`` as ``/``, so ``/%09/evil.example``
became ``//evil.example`` (another site) and a newline broke the response header. Only a
plain path under the allowed prefix passes; anything else yields the default. Dot segments
(``.``, ``..``, also as ``%2e``) are refused too: a browser resolves ``/console/..//x`` to
``//x`` and ``/console/../api`` out of the prefix, so the prefix check alone does not hold.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

# Printable ASCII only, no backslash: what a path and query of ours are made of.
_PLAIN = re.compile(r"[\x21-\x5b\x5d-\x7e]+")
_DOT_SEGMENTS = frozenset({".", ".."})


def same_origin_path(value: str | None, *, prefix: str, default: str) -> str:
    """``value`` if it is a path under ``prefix`` on this origin, else ``default``."""
    if not value or len(value) > 500 or not _PLAIN.fullmatch(value):
        return default
    if not value.startswith("/") or value.startswith("//"):
        return default
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return default
    if parts.path != prefix and not parts.path.startswith(prefix.rstrip("/") + "/"):
        return default
    segments = parts.path.lower().replace("%2e", ".").split("/")
    if _DOT_SEGMENTS.intersection(segments):
        return default
    return value
