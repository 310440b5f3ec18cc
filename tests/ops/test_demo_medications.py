"""The demo's metformin patient sees their medicine by name, not by its RxNorm code: the
portal's medicines page read "860975 · morning" (walk ux2)."""

from __future__ import annotations

import io

from rich.console import Console

from careloop.cli.demo_medications import step_medications
from careloop.cli.demo_run import DEMO_PRINCIPAL, DemoReport, sample_population_dir
from careloop.medications.service import slot_states
from careloop.records.importer import import_paths
from careloop.runtime import Runtime
from tests.outreach.conftest import sync_content


def test_the_demo_medicine_has_a_name_the_patient_reads(rt: Runtime) -> None:
    sync_content(rt)
    import_paths(
        rt.sessions,
        engine=rt.engine,
        paths=[sample_population_dir()],
        clock=rt.clock,
        principal=DEMO_PRINCIPAL,
        default_timezone=rt.settings.records.default_timezone,
    )
    report = DemoReport(database="test")

    step_medications(rt, Console(file=io.StringIO(), width=200), report)

    with rt.transaction() as session:
        patient_id = report.sections["medications"]["patient_id"]
        names = {
            s.slot.medication
            for s in slot_states(session, patient_id=patient_id, now=rt.clock.now())
        }
    assert names == {"Metformin 500 mg extended-release tablet"}
