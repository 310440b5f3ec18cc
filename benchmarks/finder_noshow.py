"""What the no-show model costs the slot finder: ``find_offers`` with and without it.

    .venv/bin/python benchmarks/finder_noshow.py [DATABASE] [PATIENT]

Default: the demo's database (``careloop demo`` first) and its patient Ruth. The model is
trained in memory as the demo's step 11 does (``demo_adapt.train_demo_model``, the shared
no-show dataset), then each variant is timed over 5 calls, twice, alternated; milliseconds per
call are printed with the offered times (the same model changes the ranking, not the cost).
"""

from __future__ import annotations

import sys
import time

from careloop.access.service import find_offers
from careloop.cli.demo_adapt import NOSHOW_CSV, train_demo_model
from careloop.runtime import open_runtime


def main() -> None:
    database = sys.argv[1] if len(sys.argv) > 1 else "sqlite:///careloop-demo.db"
    patient = sys.argv[2] if len(sys.argv) > 2 else "demo-access-ruth"
    rt = open_runtime(database=database)
    model, _ = train_demo_model(NOSHOW_CSV, now=rt.clock.now())
    for label, chosen in (("rule only", None), ("with model", model)) * 2:
        with rt.transaction() as session:
            started = time.perf_counter()
            for _ in range(5):
                offers = find_offers(session, patient_id=patient, now=rt.clock.now(), model=chosen)
            per_call = (time.perf_counter() - started) / 5 * 1000
        times = [o.start.strftime("%a %H:%M") for o in offers]
        print(f"{label}: {per_call:.0f} ms per call, offered {times}")


if __name__ == "__main__":
    main()
