"""The "interpreter needed" flag comes from the record's Patient.communication."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from careloop.records.interpreter import INTERPRETER_EXTENSION, InterpreterNeed, interpreter_need


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
