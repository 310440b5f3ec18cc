"""``timezonefinder``'s point-in-polygon module without ``cffi.FFI()``.

The library's ``timezonefinder.utils_clang`` makes a fresh ``cffi.FFI()`` at import only to
call ``from_buffer`` on it, and that constructor imports cffi's C parser (``pycparser``):
~0.045 s of CPU on an idle core, a third of loading the finder and ~7 % of the writer's
CPU when importing 100 Synthea patients (docs/benchmarks.md, perfimp). The compiled
extension the library ships has its own ``ffi``, whose built-in type parser answers
``from_buffer`` the same. :func:`install` puts a module of the same names in its place,
before the library's first import; the point-in-polygon test is the extension's, as before.

Written against ``timezonefinder`` 8.1 (pinned), like ``records.tz_finder``.
"""

from __future__ import annotations

import importlib.util
import sys
from importlib.machinery import EXTENSION_SUFFIXES, ExtensionFileLoader
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
from numpy.typing import NDArray

PACKAGE = "timezonefinder"
EXTENSION = f"{PACKAGE}.inside_polygon_ext"
MODULE = f"{PACKAGE}.utils_clang"
INT_LIST_REP = "int []"


def pt_in_poly_clang(x: int, y: int, coords: NDArray[Any]) -> bool:
    """The library's ``utils_clang.pt_in_poly_clang``, on the extension's own ``ffi``."""
    extension = sys.modules[EXTENSION]
    x_coords = np.ascontiguousarray(coords[0])
    y_coords = np.ascontiguousarray(coords[1])
    contained: bool = extension.lib.inside_polygon_int(
        x,
        y,
        len(x_coords),
        extension.ffi.from_buffer(INT_LIST_REP, x_coords),
        extension.ffi.from_buffer(INT_LIST_REP, y_coords),
    )
    return contained


def _extension_path() -> Path | None:
    spec = importlib.util.find_spec(PACKAGE)  # finds the package, does not import it
    folders = (spec.submodule_search_locations or []) if spec else []
    for folder in folders:
        for suffix in EXTENSION_SUFFIXES:
            path = Path(folder) / f"inside_polygon_ext{suffix}"
            if path.is_file():
                return path
    return None


def install() -> bool:
    """Put the module in place if the library is not imported yet and ships its compiled
    extension; False (the library's own module will be used) otherwise."""
    if PACKAGE in sys.modules:
        return MODULE in sys.modules and sys.modules[MODULE].pt_in_poly_clang is pt_in_poly_clang
    path = _extension_path()
    if path is None:
        return False
    loader = ExtensionFileLoader(EXTENSION, str(path))
    spec = importlib.util.spec_from_file_location(EXTENSION, path, loader=loader)
    if spec is None:
        return False
    try:
        extension = importlib.util.module_from_spec(spec)
        loader.exec_module(extension)
        extension.ffi.from_buffer  # noqa: B018 (the names used below, or the library's module)
        extension.lib.inside_polygon_int  # noqa: B018
    except (ImportError, OSError, AttributeError):
        # As the library's own module does when its extension will not load: its fallback.
        return False
    module = ModuleType(MODULE, __doc__)
    module.__dict__.update(
        clang_extension_loaded=True,
        inside_polygon_ext=extension,
        ffi=extension.ffi,
        INT_LIST_REP=INT_LIST_REP,
        pt_in_poly_clang=pt_in_poly_clang,
    )
    sys.modules[EXTENSION] = extension
    sys.modules[MODULE] = module
    return True
