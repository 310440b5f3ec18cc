"""Counting the SQL a piece of code sends: how tests hold a page or a job to a fixed number of
statements however many rows it handles."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, event


@contextmanager
def statements(engine: Engine, starting: str = "SELECT") -> Iterator[list[str]]:
    """The statements beginning with ``starting`` (reads by default) sent inside the block."""
    seen: list[str] = []

    def count(*args: Any) -> None:
        if str(args[2]).lstrip().upper().startswith(starting.upper()):
            seen.append(str(args[2]))

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", count)
