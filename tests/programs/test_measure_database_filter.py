"""The database path loads only what the measures can look at, and must agree with files."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from tests.conftest import SHARED_DATA

from careloop.programs.measures import service
from careloop.records.importer import import_paths
from careloop.runtime import Runtime
from careloop.security.principal import CLI_OPERATOR

CASES = SHARED_DATA / "ecqm-qicore-2024" / "testcases"
SAMPLE = Path(__file__).resolve().parents[2] / "src" / "careloop" / "data" / "synthea-sample"


def _without_identifiers(source: Path, target: Path) -> None:
    # The official test patients all share one MRN; without identifiers each stays its own
    # record (identity linking is tested elsewhere).
    for path in sorted(source.glob("*.json")):
        bundle = orjson.loads(path.read_bytes())
        for entry in bundle["entry"]:
            if entry["resource"]["resourceType"] == "Patient":
                entry["resource"].pop("identifier", None)
        target.joinpath(path.name).write_bytes(orjson.dumps(bundle))


def _compare(rt: Runtime, folder: Path, *, period: str, outreach: bool) -> int:
    start, end = service.parse_period(period)
    measures = service.all_measures()
    from_files = service.evaluate_paths(
        [folder], measures=measures, start=start, end=end, outreach=outreach
    )
    with rt.transaction() as session:
        from_db = list(
            service.evaluate_database(
                session, measures=measures, start=start, end=end, outreach=outreach
            )
        )
    key = lambda r: (r["patient"], r["measure"])  # noqa: E731
    assert sorted(from_db, key=key) == sorted(from_files, key=key)
    return len(from_db)


@pytest.mark.parametrize(
    "measure_folder", ["BreastCancerScreeningFHIR", "PCSDepressionScreenAndFollowUpFHIR"]
)
def test_official_cases_agree_between_files_and_the_filtered_database(
    rt: Runtime, tmp_path: Path, measure_folder: str
) -> None:
    _without_identifiers(CASES / measure_folder, tmp_path)
    summary = import_paths(
        rt.sessions,
        engine=rt.engine,
        paths=[tmp_path],
        clock=rt.clock,
        principal=CLI_OPERATOR,
        default_timezone="UTC",
        workers=0,
    )
    assert summary.rejected == []
    assert _compare(rt, tmp_path, period="2025-01-01/2025-12-31", outreach=False) > 100


def test_the_sample_population_agrees_in_outreach_mode(rt: Runtime) -> None:
    import_paths(
        rt.sessions,
        engine=rt.engine,
        paths=[SAMPLE],
        clock=rt.clock,
        principal=CLI_OPERATOR,
        default_timezone="UTC",
    )
    assert _compare(rt, SAMPLE, period="2020-01-01/2020-12-31", outreach=True) == 20 * 7
