"""Which database objects the models own: autogenerate and the schema test compare only those."""

from __future__ import annotations

QUEUE_PREFIX = "procrastinate_"
"""Tables of the task queue (migration 0400): Procrastinate's schema, not the models'."""


def include_name(name: str | None, type_: str, _parents: object) -> bool:
    """Leave the queue's tables alone (they have no model)."""
    return not (type_ == "table" and (name or "").startswith(QUEUE_PREFIX))
