"""Does more booking-time information lift the no-show model's AUC on the later time split?

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/noshow_features.py [CSV]

Same split as ``careloop risk train noshow`` (test = the last 7 appointment days; train = all
earlier days, fit and calibration weeks together, as calibration does not move the AUC), the
same booster and hyperparameters, the neighbourhood target-encoded on training rows only.
Prints the test AUC of the shipped features (``insights/risk/features.py``), then of the
shipped features plus each group below, then all honest groups together, each with a 95 %
bootstrap interval (1,000 resamples of the test rows), and the paired difference to the
shipped set:

* ``booking shape``: hour and weekday of the booking, log lead time, a same-day flag, the
  patient's appointments on the same day booked at or before this one, those booked in the
  same moment, and all their appointments booked before this one;
* ``lead bins``: lead time in bins (0, 1-2, 3-7, 8-14, 15-30, 31+ days), in weeks, a
  whole-weeks flag and whether the visit falls on the booking's weekday (a recurring slot);
* ``history shape``: the outcome of the patient's latest earlier appointment, the mean lead
  time of their earlier bookings, an appointment of theirs on the booking day (booked before
  this one), days to their nearest open booking, their distinct earlier booking moments;
* ``age bands``: the report's bands (0-11, 12-17, 18-29, 30-44, 45-64, 65+) as a number;
* ``place, past only``: the neighbourhood's no-show rate over appointments whose day ended
  before this booking's day (smoothed towards 20 % with 20 pseudo-appointments) and their
  count; and the neighbourhood x lead-bin pair target-encoded on training rows;
* ``+reminder``: ``SMS_received`` (left out of the model: confounded by lead time, and not
  known at booking; here only to show it adds nothing to the ranking either).

History rule as in the model: an earlier appointment's outcome counts only when its day is
before the booking day; its existence only when it was booked strictly before this booking.
"""

from __future__ import annotations

import bisect
import csv
import math
import sys
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import numpy.typing as npt
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import TargetEncoder

from careloop.insights.risk.noshow import DEFAULT_HYPERPARAMETERS

DEFAULT_CSV = (
    Path(__file__).resolve().parents[1].parent
    / "shared/data/noshow-appointments-brazil/noshow_appointments_2016-04-29_to_2016-05-31.csv"
)
LEAD_BINS = (0, 2, 7, 14, 30)
AGE_BANDS = (11, 17, 29, 44, 64)
PRIOR_RATE, PRIOR_WEIGHT = 0.2, 20.0


@dataclass(frozen=True)
class Row:
    patient: str
    booked: datetime
    day: date
    values: tuple[float, ...]  # age, female, welfare, hypertension, diabetes, alcohol, handicap
    neighbourhood: str
    sms: int
    missed: int


def read(path: Path) -> list[Row]:
    rows = []
    with path.open(newline="") as handle:
        for r in csv.DictReader(handle):
            booked = datetime.fromisoformat(r["ScheduledDay"].replace("Z", "+00:00"))
            day = date.fromisoformat(r["AppointmentDay"][:10])
            if day < booked.date():
                continue
            values = (float(r["Age"]), float(r["Gender"] == "F"), float(r["Scholarship"]),
                      float(r["Hipertension"]), float(r["Diabetes"]), float(r["Alcoholism"]),
                      float(r["Handcap"]))  # fmt: skip
            rows.append(Row(r["PatientId"], booked, day, values, r["Neighbourhood"],
                            int(r["SMS_received"]), int(r["No-show"] == "Yes")))  # fmt: skip
    return rows


def shipped(row: Row, mine: list[Row]) -> list[float]:
    """The model's numeric features (``insights/risk/features.py``)."""
    booking_day = row.booked.date()
    earlier = missed = open_bookings = 0
    last: date | None = None
    for other in mine:
        if other is row:
            continue
        if other.day < booking_day:
            earlier += 1
            missed += other.missed
            last = other.day if last is None or other.day > last else last
        elif other.booked < row.booked:
            open_bookings += 1
    lead = (row.day - booking_day).days
    since_last = float((booking_day - last).days) if last else math.nan
    return [
        *row.values,
        float(lead),
        float(row.day.weekday()),
        float(earlier),
        float(missed),
        missed / earlier if earlier else math.nan,
        since_last,
        float(open_bookings),
    ]


def booking_shape(row: Row, mine: list[Row]) -> list[float]:
    same_day = same_moment = booked_before = 0
    for other in mine:
        if other is row:
            continue
        same_day += int(other.day == row.day and other.booked <= row.booked)
        same_moment += int(other.booked == row.booked)
        booked_before += int(other.booked < row.booked)
    lead = (row.day - row.booked.date()).days
    return [row.booked.hour + row.booked.minute / 60, float(row.booked.weekday()),
            math.log1p(lead), float(lead == 0), float(same_day), float(same_moment),
            float(booked_before)]  # fmt: skip


def lead_bins(row: Row, mine: list[Row]) -> list[float]:
    lead = (row.day - row.booked.date()).days
    return [
        float(bisect.bisect_left(LEAD_BINS, lead)),
        float(lead // 7),
        float(lead > 0 and lead % 7 == 0),
        float(row.day.weekday() == row.booked.weekday()),
    ]


def history_shape(row: Row, mine: list[Row]) -> list[float]:
    booking_day = row.booked.date()
    last: Row | None = None
    leads = []
    on_booking_day = 0
    nearest = math.nan
    moments = set()
    for other in mine:
        if other is row:
            continue
        if other.day < booking_day and (last is None or other.day > last.day):
            last = other
        if other.booked < row.booked:
            leads.append((other.day - other.booked.date()).days)
            moments.add(other.booked)
            on_booking_day += int(other.day == booking_day)
            if other.day >= booking_day:
                gap = float((other.day - booking_day).days)
                nearest = gap if math.isnan(nearest) else min(nearest, gap)
    return [float(last.missed) if last else math.nan,
            float(np.mean(leads)) if leads else math.nan, float(on_booking_day), nearest,
            float(len(moments))]  # fmt: skip


def age_bands(row: Row, mine: list[Row]) -> list[float]:
    age = row.values[0]
    return [math.nan if age < 0 else float(bisect.bisect_left(AGE_BANDS, age))]


def reminder(row: Row, mine: list[Row]) -> list[float]:
    return [float(row.sms)]


Group = Callable[[Row, list[Row]], list[float]]


def place_past_rates(rows: list[Row]) -> npt.NDArray[np.float64]:
    """Per row: the neighbourhood's smoothed no-show rate and count over appointment days
    that ended before the row's booking day."""
    by_place: dict[str, dict[date, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for row in rows:
        cell = by_place[row.neighbourhood][row.day]
        cell[0] += 1
        cell[1] += row.missed
    prefix: dict[str, tuple[list[date], list[tuple[int, int]]]] = {}
    for place, days in by_place.items():
        ordered = sorted(days)
        totals, seen, missed = [], 0, 0
        for day in ordered:
            totals.append((seen, missed))  # everything strictly before ``day``
            seen += days[day][0]
            missed += days[day][1]
        totals.append((seen, missed))
        prefix[place] = (ordered, totals)
    out = np.empty((len(rows), 2))
    for i, row in enumerate(rows):
        ordered, totals = prefix[row.neighbourhood]
        seen, missed = totals[bisect.bisect_left(ordered, row.booked.date())]
        rate = (missed + PRIOR_RATE * PRIOR_WEIGHT) / (seen + PRIOR_WEIGHT)
        out[i] = (rate, float(seen))
    return out


def bootstrap(
    y: npt.NDArray[np.int_], scores: list[npt.NDArray[np.float64]], n: int = 1000
) -> npt.NDArray[np.float64]:
    """AUCs of each score on ``n`` resamples of the test rows (the same resamples for all)."""
    rng = np.random.default_rng(0)
    out = np.empty((n, len(scores)))
    for b in range(n):
        pick = rng.integers(0, len(y), len(y))
        out[b] = [roc_auc_score(y[pick], s[pick]) for s in scores]
    return out


def main(path: Path) -> None:
    rows = read(path)
    by_patient: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        by_patient[row.patient].append(row)
    test_start = max(r.day for r in rows) - timedelta(days=6)
    train = np.array([r.day < test_start for r in rows])
    y = np.array([r.missed for r in rows])
    lead_bin = [str(bisect.bisect_left(LEAD_BINS, (r.day - r.booked.date()).days)) for r in rows]
    places = np.array(
        [[r.neighbourhood, f"{r.neighbourhood}|{b}"] for r, b in zip(rows, lead_bin, strict=True)]
    )
    encoder = TargetEncoder(target_type="binary", random_state=0).fit(places[train], y[train])
    encoded = np.empty((len(rows), 2))
    encoded[train] = encoder.transform(places[train])
    encoded[~train] = encoder.transform(places[~train])
    print(f"rows {len(rows)}; test from {test_start} ({int((~train).sum())} rows)", flush=True)

    def columns(group: Group) -> npt.NDArray[np.float64]:
        return np.array([group(r, by_patient[r.patient]) for r in rows], dtype=float)

    base = np.hstack([columns(shipped), encoded[:, :1]])
    extra = {
        "booking shape": columns(booking_shape),
        "lead bins": columns(lead_bins),
        "history shape": columns(history_shape),
        "age bands": columns(age_bands),
        "place, past only": np.hstack([place_past_rates(rows), encoded[:, 1:]]),
    }
    extra["all honest groups"] = np.hstack(list(extra.values()))
    extra["+reminder"] = columns(reminder)
    names = ["shipped", *extra]
    matrices = [base, *(np.hstack([base, m]) for m in extra.values())]
    scores = []
    for name, x in zip(names, matrices, strict=True):
        model = HistGradientBoostingClassifier(random_state=0, **DEFAULT_HYPERPARAMETERS)
        model.fit(x[train], y[train])
        scores.append(model.predict_proba(x[~train])[:, 1])
        print(f"{name:18s} AUC {roc_auc_score(y[~train], scores[-1]):.4f}", flush=True)
    resampled = bootstrap(y[~train], scores)
    print("95 % bootstrap intervals (1,000 resamples of the test rows):")
    for i, name in enumerate(names):
        low, high = np.percentile(resampled[:, i], [2.5, 97.5])
        diff = resampled[:, i] - resampled[:, 0]
        d_low, d_high = np.percentile(diff, [2.5, 97.5])
        print(
            f"{name:18s} [{low:.4f}, {high:.4f}]  vs shipped {diff.mean():+.4f} "
            f"[{d_low:+.4f}, {d_high:+.4f}]  P(AUC >= 0.75) {np.mean(resampled[:, i] >= 0.75):.3f}"
        )


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_CSV)
