"""The demo's metformin patient sees their medicine by name, not by its RxNorm code: the
portal's medicines page read "860975 · morning" (walk ux2)."""

from __future__ import annotations

import io
import re

from rich.console import Console

from careloop.cli.demo_medications import step_medications
from careloop.cli.demo_run import DemoReport, step_import
from careloop.medications.service import slot_states
from careloop.models import Patient
from careloop.runtime import Runtime
from tests.outreach.conftest import sync_content


def _demo_records(rt: Runtime) -> None:
    """The demo's content and sample patients, imported as the demo's first step does."""
    sync_content(rt)
    step_import(rt, Console(file=io.StringIO()), DemoReport(database="test"))


def test_the_demo_medicine_has_a_name_the_patient_reads(rt: Runtime) -> None:
    _demo_records(rt)
    report = DemoReport(database="test")

    step_medications(rt, Console(file=io.StringIO(), width=200), report)

    with rt.transaction() as session:
        patient_id = report.sections["medications"]["patient_id"]
        names = {
            s.slot.medication
            for s in slot_states(session, patient_id=patient_id, now=rt.clock.now())
        }
    assert names == {"Metformin 500 mg extended-release tablet"}


def test_the_demo_preps_an_adult_of_screening_age_for_a_colonoscopy(rt: Runtime) -> None:
    """The demo prepped a 12-year-old sample patient for a colonoscopy."""
    _demo_records(rt)
    out = io.StringIO()

    step_medications(rt, Console(file=out, width=400), DemoReport(database="test"))

    prepped = re.search(r"Exam prep: patient (\S+),", out.getvalue())
    assert prepped is not None
    with rt.transaction() as session:
        patient = session.get(Patient, prepped.group(1))
        assert patient is not None
        assert patient.birth_date is not None
        today = rt.clock.now().date()
        age = today.year - patient.birth_date.year
        age -= (today.month, today.day) < (patient.birth_date.month, patient.birth_date.day)
    assert age >= 45
    assert not patient.deceased
