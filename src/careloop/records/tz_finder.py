"""``timezonefinder`` without its start-up cost: the shortcut table read on demand.

``TimezoneFinder()`` decodes its whole H3 shortcut table (41,000 FlatBuffers entries, in pure
Python) before answering anything: 0.8–5 s per process depending on load, longer than the
rest of importing a hundred patients. An import asks about a handful of cells, so
:class:`LazyShortcuts` finds the entries' H3 ids with NumPy over the same bytes (a few
milliseconds), binary-searches them per question, and decodes only the entry asked for.
Everything else (polygons, holes, point-in-polygon) is the library's own code, and
``tests/records/test_tz_finder.py`` compares both on points around the world.

Written against ``timezonefinder`` 8.1 (pinned): its data layout is read here.
"""

from __future__ import annotations

import importlib
import struct
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from timezonefinder import TimezoneFinder
from timezonefinder.configs import DEFAULT_DATA_DIR
from timezonefinder.np_binary_helpers import get_zone_ids_path, read_per_polygon_vector
from timezonefinder.polygon_array import PolygonArray
from timezonefinder.utils import get_boundaries_dir, get_holes_dir
from timezonefinder.zone_names import read_zone_names

# The FlatBuffers classes (generated, untyped) as the library's reader imports them.
layout: Any = importlib.import_module("timezonefinder.flatbuf.io.hybrid_shortcuts")


def _read(data: NDArray[np.uint8], positions: NDArray[np.int64], size: int) -> NDArray[Any]:
    """Little-endian unsigned integers of ``size`` bytes at ``positions``."""
    value = np.zeros(positions.shape, dtype=np.uint64)
    for byte in range(size):
        value |= data[positions + byte].astype(np.uint64) << np.uint64(8 * byte)
    return value


def entry_hex_ids(buf: bytes) -> NDArray[np.uint64]:
    """The H3 id of every entry of a HybridShortcutCollection, in entry order (vectorised:
    the table of each entry, its vtable, its first field)."""
    data = np.frombuffer(buf, dtype=np.uint8)
    (root,) = struct.unpack_from("<I", buf, 0)
    (back,) = struct.unpack_from("<i", buf, root)
    (field,) = struct.unpack_from("<H", buf, root - back + 4)  # Entries, the first field
    vector = root + field + struct.unpack_from("<I", buf, root + field)[0]
    (count,) = struct.unpack_from("<I", buf, vector)
    slots = vector + 4 + 4 * np.arange(count, dtype=np.int64)
    tables = slots + _read(data, slots, 4).astype(np.int64)
    vtables = tables - _read(data, tables, 4).astype(np.int32).astype(np.int64)
    sizes = _read(data, vtables, 2).astype(np.int64)
    offsets = np.where(sizes > 4, _read(data, vtables + 4, 2).astype(np.int64), 0)
    ids = _read(data, tables + offsets, 8)
    ids[offsets == 0] = 0
    return ids


class LazyShortcuts:
    """The finder's ``shortcut_mapping`` (H3 cell → zone id or polygon ids), read lazily."""

    def __init__(self, path: Path) -> None:
        wide = "uint16" in path.name
        self._collection_type = (
            layout.HybridShortcutCollectionUint16 if wide else layout.HybridShortcutCollectionUint8
        )
        self._unique = layout.UniqueZoneUint16 if wide else layout.UniqueZoneUint8
        self._polygons = layout.PolygonListUint16 if wide else layout.PolygonListUint8
        self._kinds = layout.ShortcutValueUint16 if wide else layout.ShortcutValueUint8
        buf = path.read_bytes()
        self._collection = self._collection_type.GetRootAs(buf, 0)
        ids = entry_hex_ids(buf)
        self._order = np.argsort(ids, kind="stable")
        self._sorted = ids[self._order]
        self._known: dict[int, Any] = {}

    def get(self, hex_id: int, default: Any = None) -> Any:
        if hex_id in self._known:
            return self._known[hex_id]
        at = int(np.searchsorted(self._sorted, np.uint64(hex_id)))
        if at >= len(self._sorted) or int(self._sorted[at]) != int(hex_id):
            return default
        entry = self._collection.Entries(int(self._order[at]))
        value = entry.Value()
        if entry.ValueType() == self._kinds.UniqueZone:
            zone = self._unique()
            zone.Init(value.Bytes, value.Pos)
            found: Any = int(zone.ZoneId())
        else:
            polygons = self._polygons()
            polygons.Init(value.Bytes, value.Pos)
            found = polygons.PolyIdsAsNumpy()
        self._known[hex_id] = found
        return found


class LazyTimezoneFinder(TimezoneFinder):
    """``TimezoneFinder`` whose constructor skips decoding the shortcut table."""

    __slots__ = ()

    def __init__(self) -> None:  # the parents' constructors, minus the eager table
        location = Path(DEFAULT_DATA_DIR)
        self.data_location = location
        self.timezone_names = read_zone_names(location)
        self.zone_ids = read_per_polygon_vector(get_zone_ids_path(location))
        path = layout.get_hybrid_shortcut_file_path(self.zone_ids.dtype, location)
        self.shortcut_mapping = LazyShortcuts(path)  # type: ignore[assignment]
        self.holes_dir = get_holes_dir(location)
        self.boundaries_dir = get_boundaries_dir(location)
        self.boundaries = PolygonArray(data_location=self.boundaries_dir, in_memory=False)
        self.holes = PolygonArray(data_location=self.holes_dir, in_memory=False)
        self.hole_registry = self._load_hole_registry()
