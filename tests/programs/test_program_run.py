"""``programs run``: eligible patients with reasons, ``eligible`` events, idempotent re-runs."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

from program_fixtures import (
    LOINC,
    SCT,
    condition,
    flu_shot,
    hba1c,
    import_patients,
    mammogram,
    patient,
)

from careloop.events import EventKind, list_events
from careloop.governance.consent import record_consent
from careloop.programs.definition import find_program, read_program
from careloop.programs.service import completion_status, run_program
from careloop.runtime import Runtime

PERIOD = "2025-01-01/2025-12-31"


def _women(rt: Runtime, tmp_path: Path) -> None:
    import_patients(
        rt,
        tmp_path / "women",
        [
            [patient("due", birth="1960-03-04")],
            [patient("screened", birth="1961-05-06"), mammogram("2024-12-01")],
            [patient("deceased", birth="1959-01-02", deceasedDateTime="2024-06-01T00:00:00Z")],
            [patient("man", birth="1960-01-01", gender="male")],
        ],
    )


def test_breast_screening_lists_due_women_with_reason(rt: Runtime, tmp_path: Path) -> None:
    _women(rt, tmp_path)
    with rt.transaction() as session:
        run = run_program(
            session, program=find_program("breast-cancer-screening"), now=rt.clock.now(),
            period=PERIOD,
        )  # fmt: skip

    assert [(e.patient_id, e.reason) for e in run.eligible] == [
        ("due", "no mammogram on record since 2023-10-01")
    ]
    assert run.eligible[0].care_gap["measure"] == "CMS125"
    assert run.excluded == {"deceased": 1}
    assert run.evaluated == 4


def test_rerun_records_no_duplicate_eligible_events(rt: Runtime, tmp_path: Path) -> None:
    _women(rt, tmp_path)
    program = find_program("breast-cancer-screening")
    with rt.transaction() as session:
        first = run_program(session, program=program, now=rt.clock.now(), period=PERIOD)
    with rt.transaction() as session:
        second = run_program(session, program=program, now=rt.clock.now(), period=PERIOD)
        events = list_events(session, kinds=[EventKind.ELIGIBLE], program=program.name)

    assert (first.events_recorded, second.events_recorded) == (1, 0)
    assert [e.patient_id for e in second.eligible] == ["due"]
    assert [(e.patient_id, e.payload["reason"], e.payload["period"]) for e in events] == [
        ("due", "no mammogram on record since 2023-10-01", PERIOD)
    ]


def test_a_changed_reason_is_recorded_again(rt: Runtime, tmp_path: Path) -> None:
    diabetic = [
        patient("dm", birth="1970-01-01"),
        condition(SCT, "44054006", onset="2010-01-01"),
        hba1c("2025-09-01", 9.6),
    ]
    import_patients(rt, tmp_path / "a", [diabetic])
    program = find_program("diabetes-control")
    with rt.transaction() as session:
        first = run_program(session, program=program, now=rt.clock.now(), as_of=date(2025, 10, 1))
    import_patients(rt, tmp_path / "b", [[*diabetic, hba1c("2025-10-01", 9.9)]])
    with rt.transaction() as session:
        second = run_program(session, program=program, now=rt.clock.now(), as_of=date(2025, 10, 1))

    assert first.eligible[0].reason == "last HbA1c, on 2025-09-01, was 9.6 %, above 9 %"
    assert second.eligible[0].reason == "last HbA1c, on 2025-10-01, was 9.9 %, above 9 %"
    assert second.events_recorded == 1


def test_flu_season_window_and_age(rt: Runtime, tmp_path: Path) -> None:
    import_patients(
        rt,
        tmp_path,
        [
            [patient("baby", birth="2025-08-01")],
            [patient("vaccinated", birth="1980-01-01"), flu_shot("2025-09-15")],
            [patient("last-season", birth="1980-01-01"), flu_shot("2025-02-01")],
        ],
    )
    program = find_program("flu-shot-this-season")
    with rt.transaction() as session:
        in_season = run_program(
            session, program=program, now=rt.clock.now(), as_of=date(2025, 11, 15)
        )
        summer = run_program(session, program=program, now=rt.clock.now(), as_of=date(2025, 6, 1))

    assert [(e.patient_id, e.reason) for e in in_season.eligible] == [
        ("last-season", "no flu vaccine recorded this season (since 2025-08-01)")
    ]
    assert in_season.window.key == "2025-08-01/2026-03-31"
    assert summer.eligible == []
    assert summer.as_json()["note"] is not None


def test_hypertension_reason_quotes_the_last_reading(rt: Runtime, tmp_path: Path) -> None:
    reading = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": "85354-9"}]},
        "effectiveDateTime": "2025-09-20T10:00:00Z",
        "component": [
            {"code": {"coding": [{"system": LOINC, "code": "8480-6"}]},
             "valueQuantity": {"value": 152.4, "unit": "mm[Hg]"}},
            {"code": {"coding": [{"system": LOINC, "code": "8462-4"}]},
             "valueQuantity": {"value": 88, "unit": "mm[Hg]"}},
        ],
    }  # fmt: skip
    import_patients(
        rt,
        tmp_path,
        [
            [
                patient("htn", birth="1960-01-01"),
                condition(SCT, "38341003", onset="2015-01-01"),
                reading,
            ]
        ],
    )
    with rt.transaction() as session:
        run = run_program(
            session, program=find_program("hypertension-control"), now=rt.clock.now(),
            as_of=date(2025, 10, 1),
        )  # fmt: skip

    assert [e.reason for e in run.eligible] == [
        "last blood pressure, on 2025-09-20, was 152/88 mmHg, not below 140/90"
    ]
    assert run.eligible[0].care_gap["gap"] == "bp_not_controlled"


def test_opted_out_patients_are_excluded(rt: Runtime, tmp_path: Path) -> None:
    _women(rt, tmp_path)
    with rt.transaction() as session:
        record_consent(
            session, patient_id="due", purpose="care-reminders", channel="*", status="denied",
            source="staff", actor="test", now=datetime(2026, 1, 1, tzinfo=UTC),
        )  # fmt: skip
    with rt.transaction() as session:
        run = run_program(
            session, program=find_program("breast-cancer-screening"), now=rt.clock.now(),
            period=PERIOD,
        )  # fmt: skip

    assert run.eligible == []
    assert run.excluded["opted-out"] == 1


def test_segment_filter_keeps_only_members(rt: Runtime, tmp_path: Path) -> None:
    import_patients(
        rt,
        tmp_path / "patients",
        [
            [patient("es", birth="1980-01-01", language="es")],
            [patient("en", birth="1980-01-01")],
        ],
    )
    source = find_program("flu-shot-this-season").source.read_text(encoding="utf-8")
    folder = tmp_path / "programs"
    folder.mkdir()
    path = folder / "flu-shot-spanish.yaml"
    path.write_text(
        source.replace("name: flu-shot-this-season", "name: flu-shot-spanish")
        + "segment: spanish-speaking\n",
        encoding="utf-8",
    )
    with rt.transaction() as session:
        run = run_program(
            session, program=read_program(path), now=rt.clock.now(), as_of=date(2025, 11, 1)
        )

    assert [e.patient_id for e in run.eligible] == ["es"]
    assert run.excluded["segment"] == 1


def test_completion_needs_a_mammogram_after_enrollment(rt: Runtime, tmp_path: Path) -> None:
    import_patients(
        rt,
        tmp_path,
        [
            [patient("done", birth="1960-03-04"), mammogram("2026-02-10")],
            [patient("before", birth="1960-03-04"), mammogram("2025-11-10")],
        ],
    )
    enrolled = datetime(2026, 1, 5, tzinfo=UTC)
    with rt.transaction() as session:
        status = completion_status(
            session, program=find_program("breast-cancer-screening"),
            enrolled_at={"done": enrolled, "before": enrolled}, now=rt.clock.now(),
        )  # fmt: skip

    assert list(status) == ["done"]
    assert status["done"].on == date(2026, 2, 10)
    assert status["done"].what == "a mammogram recorded"
