"""The outreach programs, read again only when one of their files changed.

A portal view with a waiting check-in needs the journeys; reading and compiling every
journey and program file took ~45 ms a view. The compiled programs are kept per process,
keyed by each file's modification time, size and inode (an editor's save-by-rename changes
the inode), so an edited, added or removed journey file (``outreach/journeys/`` and
``outreach.programs_dir``) is seen on the next view without a restart. The shipped programs
library is compiled once per process already (``programs.definition``).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

from careloop.outreach.config import OutreachSettings
from careloop.outreach.program import OutreachProgram
from careloop.outreach.service import JOURNEYS_DIR, load_outreach_programs

Stamp = tuple[tuple[str, int, int, int], ...]

_lock = threading.Lock()
_cache: dict[str | None, tuple[Stamp, Mapping[str, OutreachProgram]]] = {}


def _stamp(settings: OutreachSettings) -> Stamp:
    folders = [JOURNEYS_DIR]
    if settings.programs_dir:
        folders.append(Path(settings.programs_dir))
    stamps = []
    for folder in folders:
        for path in sorted(folder.glob("*.yaml")):
            try:
                stat = path.stat()
            except FileNotFoundError:
                continue  # removed between the listing and the look: the next view sees it
            stamps.append((str(path), stat.st_mtime_ns, stat.st_size, stat.st_ino))
    return tuple(stamps)


def outreach_programs_by_name(settings: OutreachSettings) -> Mapping[str, OutreachProgram]:
    """Every outreach program by name, compiled once per version of its files."""
    key = str(settings.programs_dir) if settings.programs_dir else None
    stamp = _stamp(settings)
    with _lock:
        cached = _cache.get(key)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    programs = MappingProxyType({p.name: p for p in load_outreach_programs(settings)})
    with _lock:
        _cache[key] = (stamp, programs)
    return programs
