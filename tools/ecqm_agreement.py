"""Print how often careloop agrees with the official eCQM test cases, per measure and engine.

    .venv/bin/python tools/ecqm_agreement.py [--reference]

Runs the measures the way a user does: ``careloop measure load`` of each shared package (as
published, into a scratch SQLite file), then ``careloop measure evaluate --measure CMS...
--period 2025-01-01/2025-12-31 <its test cases> --engine definition|elm --json``, and compares
every population of every group with the expected MeasureReport of each case
(``expected_results.csv``): one cell per case x group x population. The hand-written
definition is measured where there is one, the published ELM always.

``--reference`` also compares both engines with the recorded results of the reference CQL
engine (``tests/programs/reference/``, fqm-execution: official bundles, generated
variations, specification records, Synthea patients), in process.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "programs"))

from ecqm_cases import ECQM, shared_cases  # noqa: E402

PERIOD = "2025-01-01/2025-12-31"
HAND_WRITTEN = ("CMS125", "CMS130", "CMS124", "CMS122", "CMS165", "CMS138", "CMS2")


def careloop(*args: str) -> str:
    command = [str(Path(sys.executable).with_name("careloop")), *args]
    done = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        raise SystemExit(f"careloop {' '.join(args[:2])} failed: {done.stderr.strip()}")
    return done.stdout


def measures() -> list[dict[str, str]]:
    with (ECQM / "measures.csv").open() as handle:
        header, *rows = [line.rstrip("\n").split(",") for line in handle if line.strip()]
    names = [dict(zip(header, row, strict=False)) for row in rows]
    return [{"cms": r["cms_id"].removesuffix("FHIR"), "name": r["measure"]} for r in names]


def cells(got: list[dict[str, int]], expected: list[dict[str, int]]) -> tuple[int, int]:
    """(agreeing, total) population cells of one case, over the expected populations."""
    total = agree = 0
    for group, wanted in zip(got, expected, strict=True):
        for code, count in wanted.items():
            total += 1
            agree += int(group.get(code) == count)
    return agree, total


def official_agreement(database: str) -> list[tuple[str, str, int, int, int]]:
    """(measure, engine, cases, agreeing cells, cells) for every measure with shared cases."""
    expected: dict[str, dict[str, list[dict[str, int]]]] = {}
    for case in shared_cases():
        groups = [case["groups"][i] for i in sorted(case["groups"])]
        expected.setdefault(case["cms_id"].removesuffix("FHIR"), {})[case["patient"]] = groups
    rows = []
    for measure in measures():
        cms, cases = measure["cms"], ECQM / "testcases" / measure["name"]
        if cms not in expected:
            continue
        careloop("measure", "load", str(ECQM / "measures" / measure["name"]),
                 str(ECQM / "libraries"), "--database", database)  # fmt: skip
        engines = ("definition", "elm") if cms in HAND_WRITTEN else ("elm",)
        for engine in engines:
            out = careloop("measure", "evaluate", "--measure", cms, "--period", PERIOD,
                           str(cases), "--engine", engine, "--database", database,
                           "--json")  # fmt: skip
            results = {r["patient"]: r["groups"] for r in json.loads(out)}
            agree = total = 0
            for patient, wanted in expected[cms].items():
                a, t = cells(results.get(patient, [{}] * len(wanted)), wanted)
                agree, total = agree + a, total + t
            rows.append((cms, engine, len(expected[cms]), agree, total))
    return rows


def reference_agreement() -> list[tuple[str, str, int, int, int]]:
    """(measure, engine, records, agreeing cells, cells) against the recorded fqm-execution."""
    import test_measures_reference as ref

    from careloop.programs.measures import service
    from careloop.programs.measures.bundles import read_patients

    rows = []
    for cms in ref.MEASURES:
        fixture = ref.fixture(cms)
        order = fixture["populations"]
        tallies: dict[str, list[int]] = {}
        with tempfile.TemporaryDirectory() as scratch:
            target = Path(scratch) / "record.json"
            for which in ref.SETS:
                period = fixture.get("periods", {}).get(which, fixture["period"])
                start, end = service.parse_period(period)
                for label, key, document in ref.records(cms, which):
                    target.write_bytes(json.dumps(document).encode())
                    patients = list(read_patients([target]))
                    wanted = fixture["results"][label][key]
                    for measure in ref.engines(cms):
                        engine = getattr(measure, "engine", "definition")
                        (result,) = service.evaluate_population(
                            patients, measures=[measure], start=start, end=end
                        )
                        got = ref.encode(result["groups"], order)
                        tally = tallies.setdefault(engine, [0, 0, 0])
                        tally[0] += 1
                        for g, w in zip(got, wanted, strict=True):
                            tally[1] += sum(a == b for a, b in zip(g, w, strict=True))
                            tally[2] += len(w)
        rows += [(cms, engine, *tally) for engine, tally in tallies.items()]
    return rows


def table(title: str, unit: str, rows: list[tuple[str, str, int, int, int]]) -> None:
    print(f"\n{title}")
    print(f"{'measure':8} {'engine':10} {unit:>8} {'cells':>7} {'agree':>7} {'%':>7}")
    for cms, engine, count, agree, total in rows:
        print(f"{cms:8} {engine:10} {count:8} {total:7} {agree:7} {100 * agree / total:7.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reference", action="store_true", help="also vs fqm-execution")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        database = f"sqlite:///{scratch}/agreement.db"
        rows = official_agreement(database)
    table("Official test cases (expected MeasureReports)", "cases", rows)
    if args.reference:
        table("Recorded reference engine (fqm-execution)", "records", reference_agreement())


if __name__ == "__main__":
    main()
