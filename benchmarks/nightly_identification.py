"""A night's identification alone: the worker's CPU per patient, and a digest of the verdicts.

    PYTHONPATH=<tree>/src .venv/bin/python benchmarks/nightly_identification.py \
        postgresql+psycopg://postgres@127.0.0.1:5432/<a population of benchmarks/nightly.py> [runs]

Runs what a nightly slice runs for care gaps (``compose.nightly``: the facts of all care-gap
programs read once per slice and shared, then every program evaluated on the slice), in this
process, writing nothing (each slice's transaction is rolled back), and prints per run the CPU
(``time.process_time``) per patient and a digest of every verdict (program, patient,
eligible, reason, care gap, exclusion): two builds must print the same digest. The database's
own CPU is not counted. Written to compare builds old against new (docs/benchmarks.md, ntM).
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
from datetime import datetime

from careloop.compose.nightly import night_facts, seed_fact_tally, slices_of
from careloop.outreach.config import outreach_settings
from careloop.outreach.service import load_outreach_programs
from careloop.programs.service import evaluate_program
from careloop.programs.windows import resolve_window
from careloop.records.projection import share_facts
from careloop.records.service import patient_ids
from careloop.runtime import open_runtime

NOW = datetime.fromisoformat("2026-12-01T15:00:00+00:00")  # benchmarks/nightly.py's night


def main() -> None:
    url = sys.argv[1]
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    rt = open_runtime(database=url, run_migrations=False)
    own, _ = outreach_settings(rt.settings)
    programs = [p for p in load_outreach_programs(own) if p.source is not None]
    with rt.transaction() as session:
        ids = patient_ids(session)
    slices = slices_of(ids, slice_size=2000, workers=2)
    seed_fact_tally(rt, programs=programs, patient_ids=slices[0], now=NOW)  # as a slice's would
    for run in range(runs):
        digest = hashlib.sha256()
        cpu = 0.0
        for chunk in slices:
            with rt.sessions() as session:
                began = time.process_time()
                share_facts(session, night_facts(programs))
                for outreach in programs:
                    program = outreach.source
                    assert program is not None
                    window = resolve_window(program.definition.period, now=NOW)
                    for v in evaluate_program(
                        session, program=program, window=window, now=NOW, patient_ids=chunk
                    ):
                        verdict = (program.name, v.patient_id, v.eligible, v.reason)
                        digest.update(repr((*verdict, v.care_gap, v.excluded)).encode())
                session.rollback()
                cpu += time.process_time() - began
        print(
            f"run {run} load {os.getloadavg()[0]:.1f} patients {len(ids)} "
            f"identification CPU {cpu:.2f} s = {1000 * cpu / len(ids):.3f} ms a patient, "
            f"verdicts digest {digest.hexdigest()[:16]}",
            flush=True,
        )
    rt.close()


if __name__ == "__main__":
    main()
