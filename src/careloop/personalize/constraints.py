"""Hard constraints, applied before any learning: what the engine may never choose.

Each removal is recorded with a named reason so a decision can say why an option was not
considered. Constraints act on factor values (a channel, a send window) or on the whole
patient (deceased, opted out, over budget), so the feasible set is always a product of
per-factor sets and the factored bandit can choose inside it exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import IntEnum
from functools import lru_cache
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from careloop.clock import ensure_utc
from careloop.personalize.actions import ActionSpace, SendWindow
from careloop.personalize.contact_budget import ContactBudget as ContactBudget
from careloop.personalize.contact_budget import Removal as Removal
from careloop.personalize.contact_budget import RemovalReason as RemovalReason
from careloop.personalize.contact_budget import budget_allows as budget_allows
from careloop.personalize.profile import QuietHours
from careloop.personalize.snapshot import EngineConfig, PatientSnapshot, ProgramSpec

BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]
DAY_MINUTES = 24 * 60


class PatientBlock(IntEnum):
    """Codes of patient-level blocks in the vectorized arrays, most important first."""

    NONE = 0
    DECEASED = 1
    OPTED_OUT = 2
    LANGUAGE_UNSUPPORTED = 3
    CONTACT_BUDGET = 4


class ChannelBlock(IntEnum):
    NONE = 0
    NO_CONSENT = 1
    NO_CONTACT_POINT = 2


class WindowState(IntEnum):
    OPEN = 0
    REMOVED_QUIET = 1
    CLIPPED = 2


PATIENT_REASONS = {
    PatientBlock.DECEASED: RemovalReason.DECEASED,
    PatientBlock.OPTED_OUT: RemovalReason.OPTED_OUT,
    PatientBlock.LANGUAGE_UNSUPPORTED: RemovalReason.LANGUAGE_UNSUPPORTED,
    PatientBlock.CONTACT_BUDGET: RemovalReason.CONTACT_BUDGET,
}


@dataclass(frozen=True)
class ConstraintArrays:
    """Per-patient constraint inputs as arrays, so a population is checked without a loop.

    ``channel_consent``/``channel_contact`` are ``N x channels``; ``quiet`` is ``N x 2``
    (start, end minute); ``recent_count`` counts contacts in the budget period before now.
    """

    channel_consent: BoolArray
    channel_contact: BoolArray
    quiet: IntArray
    deceased: BoolArray
    opted_out: BoolArray
    language_ok: BoolArray
    recent_count: IntArray
    timezones: tuple[str, ...]


def constraint_arrays(
    snapshots: Sequence[PatientSnapshot],
    *,
    program: ProgramSpec,
    config: EngineConfig,
    now: datetime,
) -> ConstraintArrays:
    """Turn snapshots into :class:`ConstraintArrays` (the only per-patient Python loop)."""
    now = ensure_utc(now)
    channels = program.action_space.channels
    n = len(snapshots)
    consent = np.zeros((n, len(channels)), dtype=bool)
    contact = np.zeros((n, len(channels)), dtype=bool)
    quiet = np.zeros((n, 2), dtype=np.int64)
    deceased = np.zeros(n, dtype=bool)
    opted_out = np.zeros(n, dtype=bool)
    language_ok = np.ones(n, dtype=bool)
    recent = np.zeros(n, dtype=np.int64)
    since = now - config.budget_period
    for i, snap in enumerate(snapshots):
        allowed = snap.consented_channels.get(program.purpose, frozenset())
        for c, channel in enumerate(channels):
            consent[i, c] = channel in allowed
            contact[i, c] = channel in snap.contact_channels
        q = snap.quiet_hours
        quiet[i] = (q.start_minute, q.end_minute)
        deceased[i] = snap.deceased
        opted_out[i] = snap.opted_out
        language_ok[i] = language_supported(snap.language, program.languages)
        recent[i] = sum(1 for moment in snap.recent_contacts if since <= moment <= now)
    return ConstraintArrays(
        channel_consent=consent,
        channel_contact=contact,
        quiet=quiet,
        deceased=deceased,
        opted_out=opted_out,
        language_ok=language_ok,
        recent_count=recent,
        timezones=tuple(s.timezone for s in snapshots),
    )


def language_supported(language: str, supported: frozenset[str] | None) -> bool:
    """The patient's language is fixed; a program without content in it cannot reach them."""
    if supported is None:
        return True
    primary = language.split("-")[0].lower()
    return any(primary == tag.split("-")[0].lower() for tag in supported)


@dataclass(frozen=True)
class Feasibility:
    """What is left after the hard constraints, per patient and factor value."""

    masks: tuple[BoolArray, ...]
    patient_block: IntArray
    channel_block: IntArray
    window_state: IntArray
    window_bounds: IntArray
    blocked: BoolArray

    def removals(self, i: int, *, space: ActionSpace, config: EngineConfig) -> list[Removal]:
        """The named removals for patient ``i`` (used when a decision is written down)."""
        out: list[Removal] = []
        code = PatientBlock(int(self.patient_block[i]))
        if code != PatientBlock.NONE:
            detail = (
                f"{config.weekly_budget} contacts in {config.budget_period.days} days"
                if code == PatientBlock.CONTACT_BUDGET
                else ""
            )
            out.append(Removal("patient", None, PATIENT_REASONS[code], detail))
        for c, channel in enumerate(space.channels):
            block = int(self.channel_block[i, c])
            if block == ChannelBlock.NO_CONSENT:
                out.append(Removal("channel", channel, RemovalReason.NO_CONSENT))
            elif block == ChannelBlock.NO_CONTACT_POINT:
                out.append(Removal("channel", channel, RemovalReason.NO_CONTACT_POINT))
        for w, label in enumerate(space.send_windows):
            state = int(self.window_state[i, w])
            if state == WindowState.REMOVED_QUIET:
                out.append(Removal("send_window", label, RemovalReason.QUIET_HOURS))
            elif state == WindowState.CLIPPED:
                start, end = (int(x) for x in self.window_bounds[i, w])
                clipped = SendWindow(start, end).label
                out.append(
                    Removal(
                        "send_window", label, RemovalReason.CLIPPED_BY_QUIET_HOURS, f"to {clipped}"
                    )
                )
        return out


def evaluate_constraints(
    arrays: ConstraintArrays, *, space: ActionSpace, config: EngineConfig
) -> Feasibility:
    """Vectorized hard constraints for a population; the single-patient path uses it too."""
    n = arrays.deceased.shape[0]
    patient_block = np.zeros(n, dtype=np.int64)
    # Later assignments must not overwrite the more important reason: apply least important first.
    patient_block[arrays.recent_count >= config.weekly_budget] = PatientBlock.CONTACT_BUDGET
    patient_block[~arrays.language_ok] = PatientBlock.LANGUAGE_UNSUPPORTED
    patient_block[arrays.opted_out] = PatientBlock.OPTED_OUT
    patient_block[arrays.deceased] = PatientBlock.DECEASED

    channel_block = np.zeros(arrays.channel_consent.shape, dtype=np.int64)
    channel_block[~arrays.channel_contact] = ChannelBlock.NO_CONTACT_POINT
    channel_block[~arrays.channel_consent] = ChannelBlock.NO_CONSENT

    windows = space.windows
    window_state = np.zeros((n, len(windows)), dtype=np.int64)
    bounds = np.zeros((n, len(windows), 2), dtype=np.int64)
    pairs, inverse = np.unique(arrays.quiet, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    for p, (q_start, q_end) in enumerate(pairs):
        rows = inverse == p
        quiet = QuietHours(int(q_start), int(q_end))
        for w, window in enumerate(windows):
            clipped = clip_window(window.start_minute, window.end_minute, quiet)
            if clipped is None:
                window_state[rows, w] = WindowState.REMOVED_QUIET
            else:
                bounds[rows, w] = clipped
                if clipped != (window.start_minute, window.end_minute):
                    window_state[rows, w] = WindowState.CLIPPED

    alive = (patient_block == PatientBlock.NONE)[:, None]
    channel_mask = (channel_block == ChannelBlock.NONE) & alive
    window_mask = (window_state != WindowState.REMOVED_QUIET) & alive
    reading_mask = np.broadcast_to(alive, (n, len(space.reading_levels))).copy()
    tone_mask = np.broadcast_to(alive, (n, len(space.tones))).copy()
    masks: tuple[BoolArray, ...] = (channel_mask, window_mask, reading_mask, tone_mask)
    if space.framings:
        masks = (*masks, np.broadcast_to(alive, (n, len(space.framings))).copy())
    blocked = ~np.all(np.stack([m.any(axis=1) for m in masks]), axis=0)
    return Feasibility(
        masks=masks,
        patient_block=patient_block,
        channel_block=channel_block,
        window_state=window_state,
        window_bounds=bounds,
        blocked=blocked,
    )


@lru_cache(maxsize=4096)
def clip_window(start: int, end: int, quiet: QuietHours) -> tuple[int, int] | None:
    """The longest part of ``[start, end)`` outside quiet hours (earliest on ties), or None."""
    if quiet.start_minute == quiet.end_minute:
        blocked: list[tuple[int, int]] = []
    elif quiet.start_minute < quiet.end_minute:
        blocked = [(quiet.start_minute, quiet.end_minute)]
    else:
        blocked = [(0, quiet.end_minute), (quiet.start_minute, DAY_MINUTES)]
    segments = [(start, end)]
    for b_start, b_end in blocked:
        next_segments: list[tuple[int, int]] = []
        for s, e in segments:
            if b_end <= s or b_start >= e:
                next_segments.append((s, e))
                continue
            if s < b_start:
                next_segments.append((s, b_start))
            if b_end < e:
                next_segments.append((b_end, e))
        segments = next_segments
    if not segments:
        return None
    return max(segments, key=lambda seg: (seg[1] - seg[0], -seg[0]))


def choose_send_time(
    *, start_minute: int, end_minute: int, timezone: str, quiet: QuietHours, now: datetime
) -> datetime:
    """The earliest moment at or after ``now`` inside the local window and outside quiet hours.

    Built in the patient's zone and checked after the round trip through UTC, so a window
    that meets a daylight-saving gap or fold never yields a time outside it.
    """
    zone = ZoneInfo(timezone)
    now = ensure_utc(now)
    earliest = now.replace(second=0, microsecond=0)
    if earliest < now:
        earliest += timedelta(minutes=1)
    first_day = earliest.astimezone(zone).date()
    for offset in range(0, 7):
        day = first_day + timedelta(days=offset)
        for minute in (start_minute, start_minute + 60, start_minute + 120):
            if minute >= end_minute:
                break
            local = datetime(day.year, day.month, day.day, tzinfo=zone) + timedelta(minutes=minute)
            candidate = max(ensure_utc(local), earliest)
            if _acceptable(candidate, zone, day, start_minute, end_minute, quiet):
                return candidate
    raise ValueError("no send time found in a week: the window is inside quiet hours")


def _acceptable(
    moment: datetime, zone: ZoneInfo, day: object, start: int, end: int, quiet: QuietHours
) -> bool:
    local = moment.astimezone(zone)
    minute = local.hour * 60 + local.minute
    return local.date() == day and start <= minute < end and not quiet.contains(minute)
