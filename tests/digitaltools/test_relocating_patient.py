"""The relocating patient of the "N of 1" seed, as far as careloop goes today (issue 25, item 7).

Records from her prior provider and her new practice are imported and linked into one
record; her annual physical, mammogram and flu shot are found due; she gets three signed,
expiring scheduling links from the new town's directory (a primary-care doctor who accepts new
patients, mammography at several locations, a flu shot at the pharmacy near her new home) and
books the flu shot through its link; the care team prescribes a diet app; her glucose stays
flat for six weeks and a follow-up visit is offered.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import select
from tools_fixtures import consent_and_content, glucose, import_patients, reachable_patient

from careloop.access.directory import scheduling_links, send_scheduling_links
from careloop.access.links import book_from_link, open_link, when_label
from careloop.cli.demo_directory import directory_resources, home_address, relocating_needs
from careloop.clock import FrozenClock
from careloop.crypto import signing_key
from careloop.digitaltools.catalogue import load_tools
from careloop.digitaltools.service import follow_up_tools, prescribe
from careloop.models import OutboxMessage, WorklistItem
from careloop.programs.definition import find_program
from careloop.programs.service import run_program
from careloop.records.importer import import_paths
from careloop.records.service import get_patient, get_patient_record
from careloop.runtime import Runtime
from careloop.security.principal import CLI_OPERATOR, SYSTEM_WORKER

SSN = {"system": "http://hl7.org/fhir/sid/us-ssn", "value": "999-41-2026"}


def _prior_provider_record() -> list[dict]:  # type: ignore[type-arg]
    patient = reachable_patient("prior-77", phone="+15550100091")
    patient.update(identifier=[SSN], birthDate="1959-05-20", telecom=[])
    return [
        patient,
        {
            "resourceType": "Encounter",
            "status": "finished",
            "class": {"code": "AMB"},
            "type": [{"coding": [{"system": "http://snomed.info/sct", "code": "185349003"}]}],
            "period": {"start": "2023-04-03T09:00:00Z", "end": "2023-04-03T09:30:00Z"},
        },
        {
            "resourceType": "Observation",
            "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "24606-6"}]},
            "effectiveDateTime": "2022-02-01T10:00:00Z",
        },
    ]


def test_a_relocating_patient_from_linked_records_to_a_follow_up_offer(
    rt: Runtime, clock: FrozenClock, tmp_path: Path, api_client: Any
) -> None:
    new_practice = reachable_patient("new-12", phone="+15550100091")
    new_practice.update(identifier=[SSN], birthDate="1959-05-20", address=[home_address()])
    import_patients(rt, tmp_path / "prior", [_prior_provider_record()])
    import_patients(rt, tmp_path / "new", [[new_practice]])
    _import_directory(rt, tmp_path / "directory", clock)
    with rt.transaction() as session:
        record = get_patient_record(session, patient_id="prior-77", timeline_limit=0)
        due = {
            name: [e.patient_id for e in run_program(
                session, program=find_program(name), now=clock.now()
            ).eligible]
            for name in ("annual-wellness-visit", "breast-cancer-screening", "flu-shot-this-season")
        }  # fmt: skip
    assert sorted(record.sources) == ["new-12", "prior-77"]  # one person, two sources
    assert due == {
        "annual-wellness-visit": ["prior-77"],
        "breast-cancer-screening": ["prior-77"],
        "flu-shot-this-season": ["prior-77"],
    }

    consent_and_content(rt, ["prior-77"])
    with rt.transaction() as session:
        links = {
            link.need: link
            for link in scheduling_links(
                session, patient_id="prior-77", needs=relocating_needs(), now=clock.now(),
                settings=rt.settings,
            )
        }  # fmt: skip
        sent = send_scheduling_links(
            session, patient_id="prior-77", links=list(links.values()), clock=clock,
            settings=rt.settings,
        )  # fmt: skip
    pcp, mammogram, flu = (links[need.name] for need in relocating_needs())
    with rt.transaction() as session:  # each link reaches her, by text or email, never a call
        link_rows = session.scalars(
            select(OutboxMessage).where(OutboxMessage.content_message == "scheduling_link")
        ).all()
    bodies = [row.body for row in link_rows]
    assert all(asked.outbox_id is not None for asked in sent.values()), sent
    assert {row.channel for row in link_rows} <= {"sms", "email", "portal"}
    for link in links.values():
        assert sum(link.url in body for body in bodies) == 1, (link.url, bodies)
    # Each message says where its link books, so three links never read alike.
    for link in links.values():
        [body] = [body for body in bodies if link.url in body]
        assert ", ".join(sorted({place for _, _, place in link.choices})) in body, body
    assert {slot.rsplit("-", 1)[0] for slot, _, _ in pcp.choices} == {"sch-dr-open"}
    assert {place for _, _, place in mammogram.choices} == {
        "East Imaging Center", "West Imaging Center", "South Women's Health",
    }  # fmt: skip
    assert {place for _, _, place in flu.choices} == {"Corner Pharmacy"}  # not the one 60 km off
    # She finds all three in the portal, each with its places and times, one link each.
    visits = api_client("patient", patient_id="prior-77").get("/portal/visits")
    assert visits.status_code == 200, visits.text
    for link in links.values():
        assert f'href="/portal/book/{link.url.rsplit("/", 1)[1]}"' in visits.text
    for place in ("East Imaging Center", "West Imaging Center", "Corner Pharmacy"):
        assert place in visits.text
    # In the language she picks in the portal (her record says none), each time in her
    # words and, where one link has several places, with its place.
    in_pt = api_client("patient", patient_id="prior-77").get("/portal/visits?lang=pt").text
    with rt.transaction() as session:
        zone = get_patient(session, "prior-77").timezone
    [(_, east_at, _)] = [c for c in mammogram.choices if c[2] == "East Imaging Center"]
    assert f"{when_label(east_at, zone=zone, language='pt')} (East Imaging Center)" in in_pt
    # The mammogram link's page: the same hour at three places is three choices, each saying
    # what and where; the confirmation names the place she booked.
    portal = api_client("patient", patient_id="prior-77")
    page = portal.get(f"/portal/book/{mammogram.url.rsplit('/', 1)[1]}")
    assert page.status_code == 200, page.text
    for _, _, place in mammogram.choices:
        assert f"· Mammogram · <strong>{place}</strong>" in page.text.replace("&#39;", "'")
    done = portal.post(f"/portal/book/{mammogram.url.rsplit('/', 1)[1]}", data={"choice": "2"})
    assert done.status_code == 200, done.text
    assert f"Mammogram, {mammogram.choices[1][2]}" in done.text.replace("&#39;", "'")
    key = signing_key(rt.settings)
    with rt.transaction() as session:
        opened = {
            name: len(open_link(session, key=key, token=link.url.rsplit("/", 1)[1], clock=clock)
                      .choices)
            for name, link in links.items()
            if link is not mammogram  # booked above: its link is used
        }  # fmt: skip
        booked = book_from_link(
            session, key=key, token=flu.url.rsplit("/", 1)[1], choice=1, clock=clock,
            settings=rt.settings,
        )  # fmt: skip
    assert opened == {n: len(link.choices) for n, link in links.items() if link is not mammogram}
    assert (booked.slot_id, booked.state) == (flu.choices[0][0], "booked")
    with rt.transaction() as session:  # booking the flu shot leaves the other two links open
        still = open_link(session, key=key, token=pcp.url.rsplit("/", 1)[1], clock=clock)
    assert len(still.choices) == len(pcp.choices)

    start = clock.now()
    with rt.transaction() as session:
        prescribe(
            session, catalogue=load_tools(), patient_id="prior-77", tool_id="eat-well-app",
            clock=clock, principal=SYSTEM_WORKER, settings=rt.settings,
        )  # fmt: skip
    for week in range(7):
        clock.set(start + timedelta(days=1 + 7 * week))
        glucose(rt, "prior-77", at=clock.now(), mg_dl=131 - (week % 2))
    clock.set(start + timedelta(weeks=6, days=2))
    _import_resources(rt, tmp_path / "later", _clinic_times(clock.now()), clock)
    with rt.transaction() as session:
        tally = follow_up_tools(
            session, catalogue=load_tools(), clock=clock, settings=rt.settings,
            principal=SYSTEM_WORKER,
        )  # fmt: skip
        messages = session.scalars(
            select(OutboxMessage.content_message).where(OutboxMessage.patient_id == "prior-77")
        ).all()
    assert tally["not_improved"] == 1
    assert {"digital_tool_prescribed", "follow_up_offer"} <= set(messages)
    with rt.transaction() as session:  # "we sent you a link": the tool's message is the link
        tool_rows = session.scalars(
            select(OutboxMessage).where(OutboxMessage.content_message == "digital_tool_prescribed")
        ).all()
    assert tool_rows
    assert {row.channel for row in tool_rows} <= {"sms", "email", "portal"}
    assert any(load_tools().tool("eat-well-app").link in row.body for row in tool_rows)
    # The follow-up offer is Access's: a signed link (never a call) to her clinic's free
    # times that week, each saying where; the nurse's task says it was sent.
    with rt.transaction() as session:
        follow_up = session.scalars(
            select(OutboxMessage).where(OutboxMessage.content_message == "follow_up_offer")
        ).one()
        task = session.scalars(
            select(WorklistItem).where(WorklistItem.rule_id == "tool-not_improved:eat-well-app")
        ).one()
    assert follow_up.channel in {"sms", "email", "portal"}
    token = re.search(r"/portal/book/([\w-]+\.[\w-]+)", follow_up.body)
    assert token is not None, follow_up.body
    offer_page = portal.get(f"/portal/book/{token.group(1)}")
    assert offer_page.status_code == 200, offer_page.text
    assert offer_page.text.count("North Street Family Medicine") == 3
    assert "3 time(s) behind one link" in str(task.findings)


def _clinic_times(now: datetime) -> list[dict[str, Any]]:
    """Her clinic's primary-care times in the week the follow-up is offered."""
    first = datetime.combine(now.date() + timedelta(days=1), time(15, 0), tzinfo=UTC)
    schedule = {
        "resourceType": "Schedule", "id": "sch-follow-up", "active": True,
        "serviceType": [{"coding": [{"system": "http://example.org/services",
                                     "code": "primary-care"}]}],
        "actor": [{"reference": "PractitionerRole/role-dr-open"}],
    }  # fmt: skip
    return [schedule] + [
        {
            "resourceType": "Slot", "id": f"sch-follow-up-{n}", "status": "free",
            "schedule": {"reference": "Schedule/sch-follow-up"},
            "start": (first + timedelta(days=n)).isoformat(),
            "end": (first + timedelta(days=n, minutes=30)).isoformat(),
        }
        for n in range(3)
    ]  # fmt: skip


def _import_directory(rt: Runtime, folder: Path, clock: FrozenClock) -> None:
    _import_resources(rt, folder, directory_resources(clock.now()), clock)


def _import_resources(
    rt: Runtime, folder: Path, resources: list[dict[str, Any]], clock: FrozenClock
) -> None:
    folder.mkdir(parents=True)
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": r} for r in resources],
    }
    (folder / "directory.json").write_bytes(orjson.dumps(bundle))
    summary = import_paths(
        rt.sessions, engine=rt.engine, paths=[folder], clock=clock, principal=CLI_OPERATOR,
        default_timezone="America/New_York", workers=0,
    )  # fmt: skip
    assert not summary.rejected, summary.rejected
