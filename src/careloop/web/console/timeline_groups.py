"""The patient timeline as a nurse scans it: what changed stands out, routine lines fold.

A patient in a program gets a "care gap due" and an engine decision nearly every day; listed
one by one they buried the reading, the reply and the alert that matter. Consecutive routine
lines fold into one summary row (opened on demand); readings, replies, check-ins, alerts and
plan changes are marked as changes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from careloop.web.console.patient_context import TimelineEntry

ROUTINE_KINDS = frozenset({"eligible", "decided", "delivered"})
CHANGE_CSS = frozenset({"in", "alert", "plan"})


@dataclass(frozen=True)
class TimelineGroup:
    """One row: a single entry, or a run of routine entries folded together."""

    entries: tuple[TimelineEntry, ...]
    routine: bool

    @property
    def first(self) -> TimelineEntry:
        return self.entries[0]

    @property
    def last(self) -> TimelineEntry:
        return self.entries[-1]

    @property
    def changed(self) -> bool:
        return not self.routine and self.first.css in CHANGE_CSS

    @property
    def summary(self) -> str:
        """``14 routine lines: care gap ×10, decision ×4``."""
        counts = Counter(e.label for e in self.entries)
        parts = ", ".join(f"{label} ×{n}" for label, n in counts.most_common())
        return f"{len(self.entries)} routine lines: {parts}"


def group_timeline(entries: Sequence[TimelineEntry], *, min_run: int = 2) -> list[TimelineGroup]:
    """Fold runs of at least ``min_run`` routine entries; keep the order (newest first)."""
    groups: list[TimelineGroup] = []
    run: list[TimelineEntry] = []

    def flush() -> None:
        if len(run) >= min_run:
            groups.append(TimelineGroup(tuple(run), routine=True))
        else:
            groups.extend(TimelineGroup((e,), routine=False) for e in run)
        run.clear()

    for entry in entries:
        if entry.kind in ROUTINE_KINDS:
            run.append(entry)
            continue
        flush()
        groups.append(TimelineGroup((entry,), routine=False))
    flush()
    return groups
