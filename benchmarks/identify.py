"""Identification benchmark: patients/second evaluating all 7 CMS eCQMs.

    .venv/bin/python benchmarks/identify.py                       # 100,000 replicas, from files
    .venv/bin/python benchmarks/identify.py -n 20000 --workers 2 --outreach
    .venv/bin/python benchmarks/identify.py --source database --database postgresql://...

``--source files`` replicates the 100 Synthea patients (new Patient ids) to N patients. Each
replica is decoded from JSON bytes (orjson) so every patient is a fresh set of dicts, as it
would be coming out of PostgreSQL's JSONB; ``--no-decode`` shares the parsed dicts and
measures evaluation alone. ``--source database`` evaluates the patients already imported
(``careloop import``) from the identification projection (``resource_facts``), or with
``--whole`` from whole resources (``records.service.load_patient_resources``).
Goal (issue 4): 1,000,000 patients in <= 10 minutes, i.e. >= 1,700 patients/s.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from careloop.programs.measures import service
from careloop.programs.measures.bundles import read_patients
from careloop.programs.measures.evaluate import evaluate_patient

SYNTHEA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "synthea-r4" / "patients"
_BASE: list[tuple[dict[str, Any], bytes, list[dict[str, Any]]]] = []


def _load_base() -> None:
    for _pid, resources in read_patients([SYNTHEA]):
        _BASE.append((resources[0], orjson.dumps(resources[1:]), resources[1:]))


def _replicas(first: int, last: int, *, decode: bool) -> Iterator[list[dict[str, Any]]]:
    for index in range(first, last):
        patient, raw, parsed = _BASE[index % len(_BASE)]
        copy = dict(patient, id=f"{patient['id']}-r{index}")
        yield [copy, *(orjson.loads(raw) if decode else parsed)]


def _evaluate_chunk(job: tuple[int, int, bool, str, bool]) -> Counter[str]:
    first, last, decode, period, outreach = job
    start, end = service.parse_period(period)
    measures = service.all_measures()
    counts: Counter[str] = Counter()
    for resources in _replicas(first, last, decode=decode):
        for result in evaluate_patient(
            measures, resources, start=start, end=end, outreach=outreach
        ):
            counts[f"{result['measure']} initial-population"] += result["groups"][0][
                "initial-population"
            ]
            counts[f"{result['measure']} care gap"] += int(result["care_gap"])
        counts["patients"] += 1
    return counts


def run_files(args: argparse.Namespace) -> tuple[int, float, Counter[str]]:
    _load_base()
    chunk = 2000
    jobs = [
        (i, min(i + chunk, args.n), args.decode, args.period, args.outreach)
        for i in range(0, args.n, chunk)
    ]
    began = time.perf_counter()
    total: Counter[str] = Counter()
    if args.workers > 1:
        with multiprocessing.get_context("fork").Pool(args.workers) as pool:
            for counts in pool.imap_unordered(_evaluate_chunk, jobs):
                total.update(counts)
    else:
        for job in jobs:
            total.update(_evaluate_chunk(job))
    return total["patients"], time.perf_counter() - began, total


def run_database(args: argparse.Namespace) -> tuple[int, float, Counter[str]]:
    from careloop.records.service import load_patient_resources, patient_ids
    from careloop.runtime import open_runtime

    start, end = service.parse_period(args.period)
    rt = open_runtime(database=args.database)
    total: Counter[str] = Counter()
    measures = service.all_measures()
    with rt.transaction() as session:
        ids = patient_ids(session)[: args.limit] if args.limit else None
    began = time.perf_counter()
    cpu = time.process_time()
    try:
        with rt.transaction() as session:
            results = (
                service.evaluate_population(
                    load_patient_resources(
                        session, patient_ids=ids, only_codes=service.retrieval_codes(measures),
                        always_types=service.ALWAYS_LOADED,
                    ),
                    measures=measures, start=start, end=end, outreach=args.outreach,
                )
                if args.whole
                else service.evaluate_database(
                    session, measures=measures, start=start, end=end, outreach=args.outreach,
                    patient_ids=ids,
                )
            )  # fmt: skip
            for result in results:
                total[f"{result['measure']} initial-population"] += result["groups"][0][
                    "initial-population"
                ]
                total[f"{result['measure']} care gap"] += int(result["care_gap"])
                total["results"] += 1
    finally:
        rt.close()
    total["client_cpu_ms"] = round((time.process_time() - cpu) * 1000)
    patients = total["results"] // len(service.all_measures())
    return patients, time.perf_counter() - began, total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=100_000, help="patients (files source)")
    parser.add_argument("--source", choices=["files", "database"], default="files")
    parser.add_argument("--database", help="database URL for --source database")
    parser.add_argument("--period", default="2020-01-01/2020-12-31")
    parser.add_argument("--outreach", action="store_true", help="care-gap mode (no visit needed)")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--no-decode", dest="decode", action="store_false")
    parser.add_argument("--limit", type=int, default=0, help="database: the first N patients")
    parser.add_argument(
        "--whole", action="store_true", help="database: whole resources, not the projection"
    )
    args = parser.parse_args()
    service.all_measures()  # compile before timing
    patients, seconds, counts = run_files(args) if args.source == "files" else run_database(args)
    report = {
        "source": args.source,
        "patients": patients,
        "measures": len(service.all_measures()),
        "mode": "outreach" if args.outreach else "official",
        "decode_json": args.decode if args.source == "files" else True,
        "workers": args.workers if args.source == "files" else 1,
        "seconds": round(seconds, 2),
        "patients_per_second": round(patients / seconds) if seconds else None,
        "counts": dict(sorted(counts.items())),
    }
    sys.stdout.write(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode() + "\n")


if __name__ == "__main__":
    main()
