"""Lapsed patients: the win-back program's reasons and holdout, and the report's retention."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from program_fixtures import SCT, appointment, condition, import_patients, patient
from typer.testing import CliRunner

from careloop.cli import app
from careloop.compose.outreach import run_tick, tick_context
from careloop.insights.report import build_report
from careloop.loyalty.catalogue import load_catalogue
from careloop.loyalty.ledger import award
from careloop.outreach.config import outreach_settings
from careloop.outreach.service import load_outreach_programs
from careloop.programs.definition import find_program
from careloop.programs.service import run_program
from careloop.runtime import Runtime
from careloop.security.principal import CLI_OPERATOR

ICD10 = "http://hl7.org/fhir/sid/icd-10-cm"
DIABETES = (SCT, "44054006")


def visit(day: str, *, klass: str = "AMB") -> dict[str, Any]:
    return {
        "resourceType": "Encounter",
        "status": "finished",
        "class": {"code": klass},
        "type": [{"coding": [{"system": SCT, "code": "185349003"}]}],
        "period": {"start": f"{day}T09:00:00Z", "end": f"{day}T09:30:00Z"},
    }


def _former_patients(rt: Runtime, tmp_path: Path) -> None:
    """The clock is 2026-03-02: one patient for each reason, and one still coming."""
    import_patients(
        rt,
        tmp_path / "lapsed",
        [
            [patient("noshow", birth="1970-01-01"), visit("2024-12-01"), appointment("2025-01-10")],
            [
                patient("ride", birth="1971-01-01"),
                visit("2024-11-01"),
                condition(ICD10, "Z59.82", onset="2024-10-01"),
            ],
            [
                patient("sugar", birth="1960-01-01"),
                visit("2025-07-01"),
                condition(*DIABETES, onset="2015-01-01"),
            ],
            [patient("quiet", birth="1980-01-01"), visit("2024-06-01")],
            [patient("recent", birth="1980-01-01"), visit("2025-06-01")],
            [patient("regular", birth="1982-01-01"), visit("2026-02-01")],
            [patient("er-only", birth="1983-01-01"), visit("2025-12-20", klass="EMER")],
            [patient("never", birth="1984-01-01")],
            [patient("child", birth="2015-01-01"), visit("2024-01-01")],
        ],
    )


def test_win_back_names_the_likely_reason_each_patient_lapsed(rt: Runtime, tmp_path: Path) -> None:
    _former_patients(rt, tmp_path)
    with rt.transaction() as session:
        run = run_program(session, program=find_program("win-back-lapsed"), now=rt.clock.now())

    reasons = {e.patient_id: e.care_gap["gap"] for e in run.eligible}
    assert reasons == {
        "noshow": "missed_appointment",
        "ride": "transportation_need",
        "sugar": "chronic_care_overdue",
        "quiet": "no_visit_12_months",
    }
    # "recent" (9 months, no chronic condition), "regular", a child, a patient never seen and
    # an emergency-only visit within 6 months are not lapsed.


def test_win_back_enrolls_with_a_holdout_the_report_compares_against(
    rt: Runtime, tmp_path: Path
) -> None:
    import_patients(
        rt,
        tmp_path / "many",
        [[patient(f"w{i:02d}", birth="1970-01-01"), visit("2024-06-01")] for i in range(40)],
    )
    own, _ = outreach_settings(rt.settings)
    programs = load_outreach_programs(own, names=["win-back-lapsed"])
    run_tick(rt, ctx=tick_context(rt, programs=programs))

    now = rt.clock.now()
    with rt.transaction() as session:
        report = build_report(session, start=now.replace(month=1), end=now.replace(day=3))
    (win_back,) = [p for p in report["programs"] if p["program"] == "win-back-lapsed"]
    assert win_back["reach"]["enrolled"] == 40
    assert 0 < win_back["reach"]["holdout"] < 20
    assert win_back["experiment"]["holdout_n"] == win_back["reach"]["holdout"]


def test_report_shows_return_rate_and_lapsed_patients_by_segment(
    rt: Runtime, tmp_path: Path, database_url: str
) -> None:
    # 12 patients with diabetes back in the period, 12 away for 7 months (lapsed: 6 months is
    # their interval), 12 without a chronic condition away as long (not lapsed: 12 months).
    import_patients(
        rt,
        tmp_path / "panel",
        [
            [
                patient(f"back{i:02d}", birth="1960-01-01"),
                condition(*DIABETES, onset="2015-01-01"),
                visit("2025-11-15"),
                visit("2026-02-01"),
            ]
            for i in range(12)
        ]
        + [
            [
                patient(f"gone{i:02d}", birth="1960-01-01"),
                condition(*DIABETES, onset="2015-01-01"),
                visit("2025-07-20"),
            ]
            for i in range(12)
        ]
        + [[patient(f"well{i:02d}", birth="1990-01-01"), visit("2025-07-20")] for i in range(12)],
    )
    rt.clock.set(datetime(2026, 2, 1, tzinfo=UTC))  # type: ignore[attr-defined]
    with rt.transaction() as session:
        for i in range(12):
            award(
                session, catalogue=load_catalogue(), reward_id="referral",
                patient_id=f"back{i:02d}", source_key="r1", clock=rt.clock,
                principal=CLI_OPERATOR,
            )  # fmt: skip
    result = CliRunner().invoke(
        app, ["report", "--period", "2025-12-02/2026-03-01", "--json", "--database", database_url]
    )
    assert result.exit_code == 0, result.output
    retention = json.loads(result.stdout)["retention"]
    assert retention["overall"]["panel"] == 36
    assert retention["overall"]["lapsed"] == 12
    segments = {row["segment"]: row for row in retention["by_segment"]}
    assert segments["diabetes"]["panel"] == 24
    assert segments["diabetes"]["lapsed"] == 12
    assert segments["diabetes"]["lapsed_rate"] == 0.5
    assert segments["age-18-44"]["lapsed"] == 0
    assert "back00" not in result.stdout
    rewards = json.loads(result.stdout)["rewards"]
    by_segment = {row["segment"]: row for row in rewards["by_segment"]}
    assert (by_segment["diabetes"]["earners"], by_segment["diabetes"]["earner_rate"]) == (12, 0.5)
    assert by_segment["diabetes"]["value_cents"] == 12 * 1000
    assert by_segment["age-18-44"]["earners"] == 0
    sex = next(r for r in rewards["fairness"] if r["attribute"] == "sex")
    assert sex["outcome"] == "earned_reward"

    table = CliRunner().invoke(
        app, ["report", "--period", "2025-12-02/2026-03-01", "--database", database_url]
    )
    assert "Retention" in table.stdout
    assert "Rewards" in table.stdout
    assert "diabetes" in table.stdout
