"""The EHR push read as an EHR reads it: the pushed resources' references to one another
must find, in the EHR, the resources careloop pushed there, whose ids the EHR chose."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fhirclient.models.fhirelementfactory import FHIRElementFactory
from hypothesis import given
from hypothesis import strategies as st

from careloop.clock import FrozenClock
from careloop.fhir import delivery
from careloop.fhir.ehr_push import ID_SYSTEM, pushed_form
from careloop.fhir.writeback import is_projection
from tests.feedback.loop_payloads import blood_pressure
from tests.fhir.conftest import FhirServer, add_patients, valid
from tests.fhir.receiver import Received, Receiver, receiver
from tests.fhir.test_ehr_push_and_bookings import _push_to

PUSHED = ("Flag", "Task", "CarePlan", "Communication", "MeasureReport")


class ConditionalUpdateEhr:
    """What an EHR keeps of the conditional updates it accepted: its own id per identifier."""

    def __init__(self, requests: list[Received]) -> None:
        self.ids: dict[tuple[str, str], str] = {}
        self.bodies: list[dict[str, Any]] = []
        for request in requests:
            target = urlsplit(request.path)
            rtype = target.path.rsplit("/", 1)[1]
            (criteria,) = parse_qs(target.query)["identifier"]
            self.ids.setdefault((rtype, criteria), f"ehr-{len(self.ids) + 1}")
            self.bodies.append(request.json())

    def resolves(self, reference: dict[str, Any]) -> bool:
        if "reference" in reference:
            rtype, _, rid = reference["reference"].partition("/")
            return rid in {v for (t, _), v in self.ids.items() if t == rtype}
        identifier = reference["identifier"]
        return (reference["type"], f"{identifier['system']}|{identifier['value']}") in self.ids


def _references(value: Any) -> list[dict[str, Any]]:
    """Every Reference in ``value`` that points at a resource type careloop pushes."""
    if isinstance(value, list):
        return [r for item in value for r in _references(item)]
    if not isinstance(value, dict):
        return []
    found = [r for item in value.values() for r in _references(item)]
    target = str(value.get("reference") or value.get("type") or "").partition("/")[0]
    if target in PUSHED and ("reference" in value or "identifier" in value):
        found.append(value)
    return found


ehr = pytest.fixture(receiver, name="ehr")  # the EHR's FHIR endpoint, recording what it gets


def test_a_pushed_task_points_at_the_flag_the_ehr_holds(
    fhir_server: FhirServer, ehr: Receiver, clock: FrozenClock, tmp_path: Path
) -> None:
    rt = fhir_server.rt
    add_patients(rt, tmp_path, "push-ref-1")
    _push_to(rt, ehr.url.removesuffix("/hook") + "/fhir")
    delivery.run(rt, clock.now())
    clock.advance(timedelta(minutes=1))
    with fhir_server.http("clinician") as http:
        http.post("/Observation", json=blood_pressure("push-ref-1", 192, 104, clock.now()))
    clock.advance(timedelta(minutes=1))
    delivery.run(rt, clock.now())

    received = ConditionalUpdateEhr(ehr.requests)
    assert sorted(t for t, _ in received.ids) == ["Flag", "Task"]
    for body in received.bodies:
        valid(body)
        FHIRElementFactory.instantiate(body["resourceType"], body)  # fhirclient's R4, strict
    task = next(b for b in received.bodies if b["resourceType"] == "Task")
    focus = _references(task)
    assert focus == [task["focus"]]
    assert received.resolves(task["focus"])


def test_a_reply_points_at_the_message_by_careloops_id_and_the_ehrs_own_references_stay() -> None:
    body = pushed_form(
        {
            "resourceType": "Communication",
            "id": "in-4",
            "status": "completed",
            "basedOn": [{"reference": "CarePlan/6d3f2a90-1c2e-4f1b-9a57-0f1b2c3d4e5f"}],
            "inResponseTo": [{"reference": "Communication/out-3"}],
            "sender": {"reference": "Patient/p-1"},
        }
    )
    assert body["inResponseTo"] == [
        {"type": "Communication", "identifier": {"system": ID_SYSTEM, "value": "out-3"}}
    ]
    assert body["basedOn"] == [{"reference": "CarePlan/6d3f2a90-1c2e-4f1b-9a57-0f1b2c3d4e5f"}]
    assert body["sender"] == {"reference": "Patient/p-1"}
    assert body["identifier"] == [{"system": ID_SYSTEM, "value": "in-4"}]


_TARGETS = st.sampled_from(
    [
        "Flag/alert-3",
        "Task/worklist-9",
        "CarePlan/plan-adjustment-2",
        "Communication/out-12",
        "MeasureReport/gap-5",
        "CarePlan/6d3f2a90",
        "Communication/alert-3",
        "Patient/p-1",
        "Encounter/e-4",
    ]
)
_TREES = st.recursive(
    st.builds(lambda ref: {"reference": ref, "display": "x"}, _TARGETS) | st.text(max_size=3),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from("abc"), inner),
    max_leaves=12,
)


def _all_references(value: Any) -> list[str]:
    if isinstance(value, list):
        return [r for item in value for r in _all_references(item)]
    if not isinstance(value, dict):
        return []
    own = [value["reference"]] if isinstance(value.get("reference"), str) else []
    return own + [r for item in value.values() for r in _all_references(item)]


@given(tree=_TREES)
def test_no_pushed_reference_names_a_projection_and_the_others_are_kept(tree: Any) -> None:
    resource = {"resourceType": "Task", "id": "worklist-1", "status": "requested", "x": tree}
    before = _all_references(tree)
    after = _all_references(pushed_form(resource)["x"])
    assert not [r for r in after if is_projection(r)]
    assert after == [r for r in before if not is_projection(r)]
    logical = [r for r in _references(pushed_form(resource)["x"]) if "identifier" in r]
    assert len(logical) == len(before) - len(after)
