"""perfimp: an extension that cannot be loaded (another Python's build, a missing library)
must leave the library's own fallback in place, as timezonefinder's utils_clang does
(it catches the ImportError), instead of failing every address look-up."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path.cwd()

SIDE = r"""
import sys, tempfile, pathlib
from careloop.records import tz_point_in_polygon as tzp
bad = pathlib.Path(tempfile.mkdtemp()) / "inside_polygon_ext.abi3.so"
bad.write_bytes(b"not an ELF file")
tzp._extension_path = lambda: bad
assert tzp.install() is False
assert tzp.MODULE not in sys.modules and tzp.EXTENSION not in sys.modules
from careloop.records import timezones
print(timezones._finder().timezone_at(lng=-71.06, lat=42.36))
"""


def test_an_unloadable_extension_falls_back_to_the_library() -> None:
    done = subprocess.run(
        [sys.executable, "-c", SIDE], capture_output=True, text=True, cwd=ROOT, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "America/New_York"
