"""Record the reference CQL engine's results (fqm-execution) as small JSON test fixtures.

The differential test (tests/programs/test_measures_reference.py) compares careloop with
these recorded results, so the tests never need Node. Regenerate them after changing the
shared packages or the variations (tests/programs/variations.py):

    mkdir -p /work/scratch/fqm && (cd /work/scratch/fqm && npm install fqm-execution)
    .venv/bin/python tools/ecqm_reference.py --fqm /work/scratch/fqm

For each of the nine shared measure packages it runs fqm-execution (``tools/ecqm_reference.mjs``)
on every official test bundle (all 309, whatever measure they were written for), on the
generated variations of the measure's own bundles, and on the records written from the
specification (tests/programs/spec_records.py). A fixture holds, per input set, the test
case (8 characters of its id) and one string of population counts per group, in the order
of ``populations`` (``"1101"``: initial population 1, denominator 1, exclusion 0,
numerator 1). Scratch files go to ``--work``; nothing is installed in the repository.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "programs"))

from ecqm_cases import ECQM  # noqa: E402
from spec_records import spec_records  # noqa: E402
from variations import variations  # noqa: E402

from careloop.programs.elm.package import read_packages  # noqa: E402

MEASURES = {
    "CMS125": "BreastCancerScreeningFHIR",
    "CMS130": "ColonCancerScreeningFHIR",
    "CMS124": "CervicalCancerScreeningFHIR",
    "CMS122": "DiabetesGlycemicStatusAssessmentGreaterThan9PercentFHIR",
    "CMS165": "ControllingHighBloodPressureFHIR",
    "CMS138": "PreventiveCareAndTobaccoUseScreeningAndCessationInterventionFHIR",
    "CMS2": "PCSDepressionScreenAndFollowUpFHIR",
    "CMS131": "DiabetesEyeExamFHIR",
    "CMS157": "OncologyPainIntensityQuantifiedFHIR",
}
PERIOD = ("2025-01-01", "2025-12-31")
# The Synthea patients' records end in 2020: their set is evaluated for that year.
SYNTHEA = ECQM.parent / "synthea-r4" / "patients"
PERIODS = {"synthea": ("2020-01-01", "2020-12-31")}
FIXTURES = ROOT / "tests" / "programs" / "reference"


def case_key(path: Path) -> str:
    """``tests-01a1241d-...-bundle.json`` -> ``01a1241d``."""
    return path.name.removeprefix("tests-")[:8]


def patient_key(path: Path) -> str:
    """8 characters of the bundle's Patient id (a Synthea file is named after another id)."""
    bundle = json.loads(path.read_text())
    (pid,) = (
        e["resource"]["id"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient"
    )
    return str(pid)[:8]


def official_bundles(name: str | None = None) -> list[Path]:
    folder = ECQM / "testcases" / name if name else ECQM / "testcases"
    return sorted(folder.rglob("*-bundle.json"))


def measure_bundle(name: str) -> dict[str, Any]:
    """The Measure, exactly the libraries it needs, and its value-set expansions."""
    (package,) = read_packages([ECQM / "measures" / name, ECQM / "libraries"])
    entries = [{"resource": package.measure}]
    for path in sorted((ECQM / "libraries").glob("*.json")):
        library = json.loads(path.read_text())
        if library.get("name") in package.libraries:
            entries.append({"resource": library})
    for path in sorted((ECQM / "measures" / name).glob("valuesets*.json")):
        for entry in json.loads(path.read_text())["entry"]:
            valueset = entry["resource"]
            # A few expansions are published as https:// while the CQL names http:// (careloop
            # matches without the scheme); fqm-execution wants the URL the CQL names.
            valueset["url"] = valueset["url"].replace("https://cts.", "http://cts.")
            entries.append({"resource": valueset})
    return {"resourceType": "Bundle", "type": "collection", "entry": entries}


def run_fqm(
    fqm: Path, work: Path, bundle: Path, patients: dict[str, Path], period: tuple[str, str]
) -> dict[str, list[dict[str, int]]]:
    job, out = work / "job.json", work / "out.json"
    job.write_text(
        json.dumps(
            {
                "measure_bundle": str(bundle),
                "start": period[0],
                "end": period[1],
                "patients": {k: str(p) for k, p in patients.items()},
            }
        )
    )
    node = shutil.which("node")
    if node is None:
        raise SystemExit("node is not installed (fqm-execution runs on Node.js)")
    subprocess.run(  # noqa: S603 - our own script and files, no shell
        [node, str(ROOT / "tools" / "ecqm_reference.mjs"), str(job), str(out)],
        check=True,
        env={"NODE_PATH": str(fqm / "node_modules")},
    )
    results: dict[str, Any] = json.loads(out.read_text())
    failed = [k for k, v in results.items() if isinstance(v, dict)]
    if failed:
        print(f"fqm-execution failed on {len(failed)} records (recorded as errors)", flush=True)
    return results


def encode(groups: list[dict[str, int]] | dict[str, str], order: list[list[str]]) -> list[str]:
    """Counts per group; a record the reference engine could not evaluate is recorded as
    ``error: <its message>`` (the test then says why careloop's answer stands)."""
    if isinstance(groups, dict):
        message = groups["error"]
        if "Error Message:" in message:
            message = message.split("Error Message:")[1].strip().splitlines()[0]
        return [f"error: {message}"]
    return [
        "".join(str(g.get(code, 0)) for code in codes)
        for g, codes in zip(groups, order, strict=True)
    ]


def populations(name: str) -> list[list[str]]:
    (package,) = read_packages([ECQM / "measures" / name, ECQM / "libraries"])
    return [
        [p["code"]["coding"][0]["code"] for p in group["population"]]
        for group in package.measure["group"]
    ]


def inputs(name: str, work: Path) -> dict[str, dict[str, Path]]:
    """Input sets: official bundles, each variation of the measure's own bundles, spec records
    (varied too, ``spec-<variation>``, for a measure without bundles of its own), and the
    Synthea patients."""
    sets: dict[str, dict[str, Path]] = {"official": {case_key(p): p for p in official_bundles()}}
    own = official_bundles(name) if (ECQM / "testcases" / name).is_dir() else []
    for path in own:
        for label, varied in variations(json.loads(path.read_text())):
            target = work / label / path.name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(json.dumps(varied))
            sets.setdefault(label, {})[case_key(path)] = target
    for key, document in spec_records().items():
        target = work / "spec" / f"{key}.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(document))
        sets.setdefault("spec", {})[key] = target
        for label, varied in variations(document) if not own else ():
            target = work / f"spec-{label}" / f"{key}.json"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(json.dumps(varied))
            sets.setdefault(f"spec-{label}", {})[key] = target
    sets["synthea"] = {patient_key(p): p for p in sorted(SYNTHEA.glob("*.json"))}
    return sets


def engine_version(fqm: Path) -> str:
    modules = fqm / "node_modules"
    fqm_version = json.loads((modules / "fqm-execution" / "package.json").read_text())["version"]
    cql_version = json.loads((modules / "cql-execution" / "package.json").read_text())["version"]
    return f"fqm-execution {fqm_version} (cql-execution {cql_version})"


def write_fixture(path: Path, fixture: dict[str, Any]) -> None:
    """Compact JSON, one line per input set (small, and a diff shows which set changed)."""
    head = {k: v for k, v in fixture.items() if k != "results"}
    lines = [json.dumps(head)[:-1] + ', "results": {']
    sets = list(fixture["results"].items())
    for i, (label, values) in enumerate(sets):
        comma = "," if i < len(sets) - 1 else ""
        lines.append(f"{json.dumps(label)}: {json.dumps(values, separators=(',', ':'))}{comma}")
    lines.append("}}")
    path.write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fqm", type=Path, required=True, help="folder with fqm-execution")
    parser.add_argument("--work", type=Path, default=None, help="scratch folder")
    parser.add_argument("--measure", action="append", help="CMS id (default: all nine)")
    parser.add_argument(
        "--set",
        action="append",
        help="input set(s) to record, e.g. spec (+ spec-*), synthea (default: all)",
    )
    args = parser.parse_args()
    work_root = args.work or Path(tempfile.mkdtemp(prefix="ecqm-reference-"))
    FIXTURES.mkdir(exist_ok=True)
    for cms in args.measure or list(MEASURES):
        name = MEASURES[cms]
        work = work_root / cms
        work.mkdir(parents=True, exist_ok=True)
        bundle = work / "measure-bundle.json"
        bundle.write_text(json.dumps(measure_bundle(name)))
        order = populations(name)
        previous = FIXTURES / f"{cms}.json"
        recorded: dict[str, dict[str, list[str]]] = (
            json.loads(previous.read_text())["results"] if args.set and previous.exists() else {}
        )
        for label, patients in inputs(name, work).items():
            if args.set and not any(label == s or label.startswith(f"{s}-") for s in args.set):
                continue
            period = PERIODS.get(label, PERIOD)
            results = run_fqm(args.fqm, work, bundle, patients, period)
            recorded[label] = {k: encode(results[k], order) for k in sorted(patients)}
            print(f"{cms} {label}: {len(patients)} records", flush=True)
        fixture = {
            "measure": cms,
            "name": name,
            "engine": engine_version(args.fqm),
            "period": "/".join(PERIOD),
            "periods": {label: "/".join(p) for label, p in PERIODS.items()},
            "populations": order,
            "results": recorded,
        }
        write_fixture(FIXTURES / f"{cms}.json", fixture)


if __name__ == "__main__":
    main()
