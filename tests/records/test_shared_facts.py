"""Programs evaluated in one pass share one decoding of each patient's facts (the demo's
pilot), and see exactly what they would each have read alone, including a resource written
during the pass."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

from careloop.cli.demo_run import sample_population_dir
from careloop.programs.definition import load_programs
from careloop.records.importer import import_paths
from careloop.records.projection import SharedFacts, keep_facts, load_patient_facts, share_facts
from careloop.records.resources import store_resources
from careloop.runtime import Runtime
from careloop.security.principal import CLI_OPERATOR

SMALLEST = ("Alfreda_Wyman", "Cameron_Greenfelder")


def _import_two(rt: Runtime, folder: Path) -> None:
    for path in sorted(sample_population_dir().glob("*.json")):
        if path.name.startswith(SMALLEST):
            shutil.copy(path, folder / path.name)
    summary = import_paths(
        rt.sessions,
        engine=rt.engine,
        paths=[folder],
        clock=rt.clock,
        principal=CLI_OPERATOR,
        default_timezone="UTC",
        workers=0,
    )
    assert summary.rejected == []
    assert len(summary.patients) == 2


def test_every_program_reads_the_same_facts_shared_or_alone(rt: Runtime, tmp_path: Path) -> None:
    _import_two(rt, tmp_path)
    programs = [p for p in load_programs().values() if p.load_codes is not None]
    assert len(programs) >= 5
    with rt.transaction() as session:
        alone = [
            list(load_patient_facts(session, only_codes=p.load_codes, always_types=p.always_types))
            for p in programs
        ]
    with rt.transaction() as session:
        share_facts(session)
        shared = [
            list(load_patient_facts(session, only_codes=p.load_codes, always_types=p.always_types))
            for p in programs
        ]
    assert shared == alone
    assert any(facts for loaded in alone for _, facts in loaded if len(facts) > 1)


def test_a_resource_written_during_a_shared_pass_is_read_next(rt: Runtime, tmp_path: Path) -> None:
    _import_two(rt, tmp_path)
    code = "77353-1"  # a stool DNA test: colorectal screening done
    with rt.transaction() as session:
        share_facts(session)
        before = dict(load_patient_facts(session, only_codes={code}))
        patient_id = sorted(before)[0]
        assert all(f["resourceType"] == "Patient" for f in before[patient_id])
        store_resources(
            session,
            [
                {
                    "resourceType": "Observation",
                    "id": "shared-facts-test",
                    "status": "final",
                    "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
                    "subject": {"reference": f"Patient/{patient_id}"},
                    "effectiveDateTime": datetime(2026, 3, 1, tzinfo=UTC).isoformat(),
                }
            ],
            clock=rt.clock,
            principal=CLI_OPERATOR,
        )
        after = dict(load_patient_facts(session, only_codes={code}))
    assert [f["id"] for f in after[patient_id] if f["resourceType"] == "Observation"] == [
        "shared-facts-test"
    ]


def _observation(fhir_id: str, patient_id: str, code: str) -> dict[str, object]:
    return {
        "resourceType": "Observation",
        "id": fhir_id,
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
        "subject": {"reference": f"Patient/{patient_id}"},
        "effectiveDateTime": datetime(2026, 3, 1, tzinfo=UTC).isoformat(),
    }


def _observations(rt: Runtime, kept: SharedFacts, code: str) -> dict[str, list[str]]:
    with rt.transaction() as session:
        share_facts(session, kept)
        loaded = load_patient_facts(session, only_codes={code})
        return {
            pid: [f["id"] for f in facts if f["resourceType"] == "Observation"]
            for pid, facts in loaded
        }


def test_kept_facts_follow_writes_made_in_other_transactions(rt: Runtime, tmp_path: Path) -> None:
    """The pilot keeps facts across its ticks; a completion or a check-in answer written in
    another transaction is read on the next tick, for the patient it was about (and for the
    patient a resource moved away from)."""
    _import_two(rt, tmp_path)
    code = "77353-1"
    kept = keep_facts()
    first, second = sorted(_observations(rt, kept, code))
    assert _observations(rt, kept, code) == {first: [], second: []}
    with rt.transaction() as session:
        store_resources(
            session, [_observation("kept-1", first, code)], clock=rt.clock, principal=CLI_OPERATOR
        )
    assert _observations(rt, kept, code) == {first: ["kept-1"], second: []}
    with rt.transaction() as session:  # the same resource, now about the other patient
        store_resources(
            session, [_observation("kept-1", second, code)], clock=rt.clock, principal=CLI_OPERATOR
        )
    assert _observations(rt, kept, code) == {first: [], second: ["kept-1"]}


def test_a_rolled_back_write_is_not_kept(rt: Runtime, tmp_path: Path) -> None:
    _import_two(rt, tmp_path)
    code = "77353-1"
    kept = keep_facts()
    first, _second = sorted(_observations(rt, kept, code))
    session = rt.sessions()
    try:
        share_facts(session, kept)  # the writer reads its own uncommitted fact into the cache
        store_resources(
            session, [_observation("undone", first, code)], clock=rt.clock, principal=CLI_OPERATOR
        )
        mine = dict(load_patient_facts(session, only_codes={code}))[first]
        assert "undone" in [f["id"] for f in mine]
        session.rollback()
    finally:
        session.close()
    assert _observations(rt, kept, code)[first] == []
