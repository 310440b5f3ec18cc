"""The "interpreter needed" flag comes from the record's Patient.communication."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from careloop.models import FhirResource, Patient
from careloop.records.interpreter import (
    INTERPRETER_EXTENSION,
    InterpreterNeed,
    interpreter_for,
    interpreter_need,
    interpreter_needs,
)
from careloop.runtime import Runtime


def _patient(language: str, *, required: bool | None, preferred: bool = True) -> dict[str, Any]:
    comm: dict[str, Any] = {
        "language": {"coding": [{"system": "urn:ietf:bcp:47", "code": language}]},
        "preferred": preferred,
    }
    if required is not None:
        comm["extension"] = [{"url": INTERPRETER_EXTENSION, "valueBoolean": required}]
    return {"resourceType": "Patient", "id": "p", "communication": [comm]}


def test_the_preferred_language_with_the_extension_needs_an_interpreter() -> None:
    assert interpreter_need([_patient("vi", required=True)]) == InterpreterNeed("vi", "Vietnamese")
    assert interpreter_need([_patient("pt-BR", required=True)]) == InterpreterNeed(
        "pt-BR", "Portuguese"
    )


def test_the_flag_on_the_patient_itself_counts_too() -> None:
    patient = _patient("es", required=None)
    patient["extension"] = [{"url": INTERPRETER_EXTENSION, "valueBoolean": True}]
    assert interpreter_need([patient]) == InterpreterNeed("es", "Spanish")


def test_a_later_import_that_clears_the_flag_clears_it() -> None:
    assert interpreter_need([_patient("vi", required=True), _patient("vi", required=False)]) is None
    assert interpreter_need([_patient("vi", required=True), _patient("vi", required=None)]) == (
        InterpreterNeed("vi", "Vietnamese")
    )


@given(st.sampled_from(["en", "es", "vi", "pt", "zh"]), st.sampled_from([False, None]))
def test_without_a_true_flag_nobody_needs_an_interpreter(language: str, flag: bool | None) -> None:
    assert interpreter_need([_patient(language, required=flag)]) is None


_OTHER = {"url": "http://hl7.org/fhir/us/core/StructureDefinition/us-core-race", "valueString": "x"}


def _stored(flag_at: str, value: bool | None) -> dict[str, Any]:
    """A Patient as imported: other extensions around the flag, wherever the flag is."""
    patient = _patient("vi", required=value if flag_at == "communication" else None)
    if flag_at == "patient":
        flag = {"url": INTERPRETER_EXTENSION, "valueBoolean": value}
        patient["extension"] = [_OTHER, flag, {**flag, "valueBoolean": not value}]
    else:
        patient["extension"] = [_OTHER]
    if flag_at == "none":
        del patient["communication"]
    return patient


def test_needs_read_for_a_batch_equal_those_read_from_the_whole_patient(rt: Runtime) -> None:
    """On PostgreSQL the batch reads only the flag's extensions and ``communication``: the
    answer for each patient (flag first among several, later import winning, no
    communication at all) is the one the whole Patient resources give."""
    cases = {
        "own-true": [_stored("patient", True)],
        "own-false": [_stored("patient", False)],
        "comm-true": [_stored("communication", True)],
        "comm-cleared": [_stored("communication", True), _stored("communication", False)],
        "no-comm": [_stored("none", None)],
    }
    at = datetime(2026, 1, 1, tzinfo=UTC)
    with rt.transaction() as session:
        for pid, resources in cases.items():
            session.add(
                Patient(
                    id=pid, timezone="UTC", timezone_source="default", created_at=at, updated_at=at
                )
            )
            session.flush()
            for k, resource in enumerate(resources):
                session.add(
                    FhirResource(
                        resource_type="Patient", fhir_id=f"{pid}-{k}", patient_id=pid,
                        resource={**resource, "id": f"{pid}-{k}"},
                        imported_at=at + timedelta(days=k),
                    )
                )  # fmt: skip
    with rt.transaction() as session:
        needs = interpreter_needs(session, patient_ids=list(cases))
        assert needs == {pid: interpreter_need(r) for pid, r in cases.items()}
        assert needs == {pid: interpreter_for(session, patient_id=pid) for pid in cases}
    vietnamese = InterpreterNeed("vi", "Vietnamese")
    assert needs == {
        "own-true": vietnamese,
        "own-false": None,
        "comm-true": vietnamese,
        "comm-cleared": None,
        "no-comm": None,
    }
