"""One rule for every time a page shows: local to the viewer, with the zone named.

Staff read times in the clinic's zone (``records.default_timezone``), a patient in their own;
where the patient's clock matters (when a message reached them, a reading they took) the
console adds the patient's local time: ``09:10 EST · 08:10 CST patient's time``. Unlabelled
or mixed UTC/local times on one page made a nurse misjudge how old an alert was.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import pass_context

FALLBACK_ZONE = "UTC"


def zone_info(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or FALLBACK_ZONE)
    except (KeyError, ValueError):
        return ZoneInfo(FALLBACK_ZONE)


def stamp(moment: datetime | None, zone: str | None, *, with_date: bool = True) -> str:
    """``2026-03-02 10:00 EST`` (``—`` when unknown)."""
    if moment is None:
        return "—"
    local = moment.astimezone(zone_info(zone))
    return local.strftime("%Y-%m-%d %H:%M %Z" if with_date else "%H:%M %Z")


def stamp_both(moment: datetime | None, viewer: str | None, patient: str | None) -> str:
    """The viewer's time, then the patient's when their clock reads differently."""
    mine = stamp(moment, viewer)
    if moment is None or patient is None:
        return mine
    theirs = moment.astimezone(zone_info(patient))
    if theirs.utcoffset() == moment.astimezone(zone_info(viewer)).utcoffset():
        return mine
    return f"{mine} · {stamp(moment, patient, with_date=False)} patient's time"


@pass_context
def local_time_filter(ctx: Any, moment: datetime | None, zone: str | None = None) -> str:
    """Jinja ``local_time``: in ``zone``, else the page's ``viewer_zone``, always labelled."""
    return stamp(moment, zone or ctx.get("viewer_zone"))


@pass_context
def both_times_filter(ctx: Any, moment: datetime | None, patient_zone: str | None) -> str:
    """Jinja ``both_times``: the viewer's time and the patient's (see :func:`stamp_both`)."""
    return stamp_both(moment, ctx.get("viewer_zone"), patient_zone)
