"""Does more booking-time information lift the no-show model's AUC on the later time split?

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/noshow_features.py [CSV]

Same split as ``careloop risk train noshow`` (test = the last 7 appointment days; train = all
earlier days, fit and calibration weeks together, as calibration does not move the AUC), the
same booster and hyperparameters, the neighbourhood target-encoded on training rows only.
Prints the test AUC of three feature sets:

* ``shipped``: the model's features (``insights/risk/features.py``);
* ``+booking shape``: plus the hour and weekday of the booking, log lead time, a same-day flag,
  the patient's appointments on the same day booked at or before this one, those booked in the
  same moment, and all their appointments booked before this one (all known at booking);
* ``+reminder``: plus ``SMS_received`` (left out of the model: confounded by lead time, and not
  known at booking; here only to show it adds nothing to the ranking either).

History rule as in the model: an earlier appointment's outcome counts only when its day is
before the booking day.
"""

from __future__ import annotations

import csv
import math
import sys
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import TargetEncoder

from careloop.insights.risk.noshow import DEFAULT_HYPERPARAMETERS

DEFAULT_CSV = (
    Path(__file__).resolve().parents[1].parent
    / "shared/data/noshow-appointments-brazil/noshow_appointments_2016-04-29_to_2016-05-31.csv"
)


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


def features(row: Row, mine: list[Row], level: int) -> list[float]:
    booking_day = row.booked.date()
    earlier = missed = open_bookings = same_day = same_moment = booked_before = 0
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
        same_day += int(other.day == row.day and other.booked <= row.booked)
        same_moment += int(other.booked == row.booked)
        booked_before += int(other.booked < row.booked)
    lead = (row.day - booking_day).days
    since_last = float((booking_day - last).days) if last else math.nan
    out = [*row.values, float(lead), float(row.day.weekday()), float(earlier), float(missed),
           missed / earlier if earlier else math.nan, since_last, float(open_bookings)]  # fmt: skip
    if level >= 1:
        out += [row.booked.hour + row.booked.minute / 60, float(row.booked.weekday()),
                math.log1p(lead), float(lead == 0), float(same_day), float(same_moment),
                float(booked_before)]  # fmt: skip
    if level >= 2:
        out.append(float(row.sms))
    return out


def main(path: Path) -> None:
    rows = read(path)
    by_patient: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        by_patient[row.patient].append(row)
    test_start = max(r.day for r in rows) - timedelta(days=6)
    train = np.array([r.day < test_start for r in rows])
    y = np.array([r.missed for r in rows])
    places = np.array([[r.neighbourhood] for r in rows])
    encoder = TargetEncoder(target_type="binary", random_state=0).fit(places[train], y[train])
    print(f"rows {len(rows)}; test from {test_start} ({int((~train).sum())} rows)")
    for level, name in enumerate(("shipped", "+booking shape", "+reminder")):
        x = np.array([features(r, by_patient[r.patient], level) for r in rows], dtype=float)
        x_train = np.hstack([x[train], encoder.transform(places[train])])
        x_test = np.hstack([x[~train], encoder.transform(places[~train])])
        model = HistGradientBoostingClassifier(random_state=0, **DEFAULT_HYPERPARAMETERS)
        model.fit(x_train, y[train])
        auc = roc_auc_score(y[~train], model.predict_proba(x_test)[:, 1])
        print(f"{name:16s} AUC {auc:.4f}", flush=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_CSV)
