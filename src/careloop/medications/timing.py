"""FHIR ``Dosage.timing`` → the daily dose slots a patient takes a medicine at.

Pure: no I/O. A slot is a name (``morning``, ``evening``, ``bedtime``, ``breakfast``, or a
clock time from ``timeOfDay``) and a default local minute of the day; the reminder time is
learned from the patient's confirmations later (``medications.learning``). The defaults are
conventional administration times (08:00/20:00 for twice a day, meals at 08:00, 12:30 and
18:30, bedtime 21:30): a prescription rarely says more, and the patient's routine wins soon.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

DAY_MINUTES = 24 * 60


@dataclass(frozen=True, slots=True, order=True)
class SlotSpec:
    """One daily dose: its default local minute and its name."""

    minute: int
    slot: str


def _slots(*pairs: tuple[str, int]) -> tuple[SlotSpec, ...]:
    return tuple(SlotSpec(minute, name) for name, minute in pairs)


MORNING, NOON, AFTERNOON, EVENING, BEDTIME = 8 * 60, 12 * 60, 14 * 60, 20 * 60, 21 * 60 + 30
_PER_DAY: dict[int, tuple[SlotSpec, ...]] = {
    1: _slots(("morning", MORNING)),
    2: _slots(("morning", MORNING), ("evening", EVENING)),
    3: _slots(("morning", MORNING), ("afternoon", AFTERNOON), ("evening", EVENING)),
    4: _slots(("morning", MORNING), ("noon", NOON), ("afternoon", 16 * 60), ("evening", EVENING)),
}
_CODES: dict[str, tuple[SlotSpec, ...]] = {
    "QD": _PER_DAY[1],
    "AM": _PER_DAY[1],
    "BID": _PER_DAY[2],
    "TID": _PER_DAY[3],
    "QID": _PER_DAY[4],
    "PM": _slots(("evening", EVENING)),
    "HS": _slots(("bedtime", BEDTIME)),
    "BED": _slots(("bedtime", BEDTIME)),
}
_MEALS = {"M": ("breakfast", 8 * 60), "D": ("lunch", 12 * 60 + 30), "V": ("dinner", 18 * 60 + 30)}
_WHEN: dict[str, tuple[SlotSpec, ...]] = {
    "MORN": _slots(("morning", MORNING)),
    "MORN.early": _slots(("morning", 7 * 60)),
    "MORN.late": _slots(("morning", 10 * 60)),
    "WAKE": _slots(("morning", 7 * 60)),
    "NOON": _slots(("noon", NOON)),
    "AFT": _slots(("afternoon", AFTERNOON)),
    "EVE": _slots(("evening", EVENING)),
    "NIGHT": _slots(("bedtime", BEDTIME)),
    "HS": _slots(("bedtime", BEDTIME)),
    "PHS": _slots(("bedtime", BEDTIME)),
}
_MEAL_OFFSET = {"AC": -30, "C": 0, "PC": 30}


def _meal_slots(code: str) -> tuple[SlotSpec, ...] | None:
    """``C``/``AC``/``PC`` (all meals) or ``CM``/``ACD``/``PCV``… (one meal), with the offset."""
    for prefix, offset in sorted(_MEAL_OFFSET.items(), key=lambda kv: -len(kv[0])):
        if not code.startswith(prefix):
            continue
        rest = code[len(prefix) :]
        meals = list(_MEALS) if rest == "" else [rest] if rest in _MEALS else []
        if meals:
            return tuple(SlotSpec(_MEALS[m][1] + offset, _MEALS[m][0]) for m in meals)
    return None


def _time_of_day(text: str) -> SlotSpec | None:
    try:
        hours, minutes = (int(part) for part in text.split(":")[:2])
    except ValueError:
        return None
    if not (0 <= hours < 24 and 0 <= minutes < 60):
        return None
    return SlotSpec(hours * 60 + minutes, f"{hours:02d}:{minutes:02d}")


def _from_repeat(repeat: Mapping[str, Any]) -> tuple[list[SlotSpec], str | None]:
    """Slots from ``repeat.timeOfDay`` / ``when`` / ``frequency`` per day, and a label."""
    times = [s for s in (_time_of_day(str(t)) for t in repeat.get("timeOfDay") or []) if s]
    if times:
        return times, "at set times"
    found: list[SlotSpec] = []
    for code in repeat.get("when") or []:
        found.extend(_WHEN.get(str(code)) or _meal_slots(str(code)) or ())
    if found:
        meals = any(s.slot in {"breakfast", "lunch", "dinner"} for s in found)
        return found, "with meals" if meals else "at set times of day"
    frequency, period = repeat.get("frequency"), repeat.get("period", 1)
    if repeat.get("periodUnit") == "d" and period == 1 and frequency in _PER_DAY:
        return list(_PER_DAY[int(frequency)]), f"{frequency} times a day"
    if repeat.get("periodUnit") == "h" and isinstance(period, int | float) and period > 0:
        count = int(24 // period)
        if count in _PER_DAY:
            return list(_PER_DAY[count]), f"every {period:g} hours"
    return [], None


def timing_slots(timing: Mapping[str, Any] | None) -> tuple[list[SlotSpec], str | None]:
    """The daily slots of one ``Timing`` and a short label of where they came from.

    ``repeat`` (times, meal and day events, frequency) is more specific than ``code`` and wins;
    a timing neither describes gives no slots (the caller falls back to once a day).
    """
    if not isinstance(timing, Mapping):
        return [], None
    repeat = timing.get("repeat")
    if isinstance(repeat, Mapping):
        found, label = _from_repeat(repeat)
        if found:
            return found, label
    code = timing.get("code")
    if isinstance(code, Mapping):
        for coding in code.get("coding") or []:
            slots = _CODES.get(str(coding.get("code", "")).upper())
            if slots:
                return list(slots), str(coding["code"]).upper()
        text = str(code.get("text") or "").strip().upper()
        if text in _CODES:
            return list(_CODES[text]), text
    return [], None


def dosage_slots(dosages: Iterable[Mapping[str, Any]]) -> tuple[list[SlotSpec], str] | None:
    """Daily slots of a medicine's ``dosageInstruction`` list (union, one per name).

    None when the medicine is taken only as needed (no reminder for those); once a day in the
    morning when the dosage says nothing usable about time.
    """
    slots: dict[str, SlotSpec] = {}
    labels: list[str] = []
    as_needed = False
    dosages = list(dosages)
    for dosage in dosages:
        if dosage.get("asNeededBoolean") or dosage.get("asNeededCodeableConcept"):
            as_needed = True
            continue
        found, label = timing_slots(dosage.get("timing"))
        for spec in found:
            slots.setdefault(spec.slot, spec)
        if label and label not in labels:
            labels.append(label)
    if not slots:
        if as_needed:
            return None
        return list(_PER_DAY[1]), "once a day (no timing given)"
    return sorted(slots.values()), ", ".join(labels)
