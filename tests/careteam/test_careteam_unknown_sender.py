"""A text from a number that matches no patient lands on the worklist and can be linked."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from careloop.channels.keywords import Keyword
from careloop.runtime import Runtime
from tests.feedback.loop_payloads import add_patients
from tests.outreach.conftest import Loop, reply


def test_an_unknown_sender_becomes_one_low_priority_task_that_a_person_links(
    rt: Runtime, make_loop: Callable[..., Loop], tmp_path: Path, api_client: Any
) -> None:
    add_patients(rt, tmp_path, "un-1")
    loop = make_loop([], {})
    for sid in ("SMu1", "SMu2"):
        reply(
            loop,
            sender="+1 555 019 9999",
            body="hi it's me, new phone",
            keyword=Keyword.FREE_TEXT,
            sid=sid,
        )
    coordinator = api_client("coordinator")
    (entry,) = coordinator.get("/api/worklist").json()
    assert (entry["rule_id"], entry["kind"], entry["severity"]) == (
        "unknown-sender",
        "task",
        "routine",
    )
    assert entry["patient_id"] is None
    assert entry["occurrences"] == 2
    assert "555" not in str(entry)  # no number on the worklist
    assert "new phone" not in str(entry)  # and no message text
    missing = coordinator.post(f"/api/alerts/{entry['id']}/link", json={"patient": "nobody"})
    linked = coordinator.post(f"/api/alerts/{entry['id']}/link", json={"patient": "un-1"})
    again = coordinator.post(f"/api/alerts/{entry['id']}/link", json={"patient": "un-1"})
    assert missing.status_code == 404
    assert linked.status_code == 200
    assert linked.json()["patient_id"] == "un-1"
    assert again.status_code == 409
