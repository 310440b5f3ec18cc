"""A Portuguese or Chinese patient's portal is in their language, picked from the record's
preferred ``Patient.communication`` (issue 25, item 4), on both databases."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from careloop.runtime import Runtime
from tests.feedback.loop_payloads import import_resources


def _patient(pid: str, *codes: tuple[str, bool]) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": pid,
        "name": [{"family": "Test", "given": ["Rosa"]}],
        "communication": [
            {"language": {"coding": [{"system": "urn:ietf:bcp:47", "code": code}]}}
            | ({"preferred": True} if preferred else {})
            for code, preferred in codes
        ],
    }


@pytest.mark.parametrize(
    ("codes", "lang", "words"),
    [
        ((("en", False), ("pt-BR", True)), "pt", ("Meu cuidado", "Mensagens", "Olá, Rosa")),
        ((("zh", False),), "zh-Hans", ("我的医护", "消息", "Rosa，您好")),
    ],
)
def test_the_portal_speaks_the_preferred_language_of_the_record(
    rt: Runtime,
    tmp_path: Path,
    api_client: Callable[..., Any],
    codes: tuple[tuple[str, bool], ...],
    lang: str,
    words: tuple[str, ...],
) -> None:
    import_resources(rt, tmp_path, _patient("p-lang", *codes))
    page = api_client("patient", patient_id="p-lang").get("/portal?patient=p-lang")
    assert page.status_code == 200, page.text
    assert f'lang="{lang}"' in page.text
    for word in words:
        assert word in page.text
