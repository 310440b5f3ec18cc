"""Consent: defaults, STOP/START, FHIR Consent import, the API, the CLI, unsubscribe links."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import orjson
from tests.governance.conftest import PATIENT_A, PATIENT_B, PATIENT_DEAD, load
from tests.statements import statements
from typer.testing import CliRunner

from careloop.cli import app as cli
from careloop.clock import FrozenClock
from careloop.crypto import signing_key
from careloop.governance.consent import (
    consent_decision,
    consent_decisions,
    consent_decisions_by_channel,
    opt_in_channel,
    opt_out_channel,
    record_consent,
    share_consent_reads,
)
from careloop.governance.consent_fhir import sync_fhir_consents
from careloop.governance.unsubscribe import list_unsubscribe_headers, make_unsubscribe_token
from careloop.runtime import Runtime

runner = CliRunner()


def _decide(rt: Runtime, purpose: str, channel: str, patient_id: str = PATIENT_A) -> bool:
    with rt.transaction() as session:
        return consent_decision(
            session, patient_id=patient_id, purpose=purpose, channel=channel, now=rt.clock.now()
        ).allowed


def test_defaults_allow_care_reminders_and_require_opt_in_for_marketing(
    population: Runtime,
) -> None:
    assert _decide(population, "care-reminders", "sms")
    assert _decide(population, "clinical-monitoring", "voice")
    assert _decide(population, "surveys", "email")
    assert not _decide(population, "surveys", "sms")
    assert not _decide(population, "marketing", "email")
    assert not _decide(population, "research", "portal")


def test_no_contact_point_or_deceased_means_no(population: Runtime) -> None:
    with population.transaction() as session:
        no_email = consent_decision(
            session,
            patient_id=PATIENT_B,
            purpose="care-reminders",
            channel="email",
            now=population.clock.now(),
        )
        dead = consent_decision(
            session,
            patient_id=PATIENT_DEAD,
            purpose="care-reminders",
            channel="email",
            now=population.clock.now(),
        )
    assert (no_email.allowed, no_email.reason) == (False, "no contact point usable for email")
    assert (dead.allowed, dead.reason) == (False, "patient is deceased")


def test_stop_stops_every_sms_at_once_and_start_does_not_grant_marketing(
    population: Runtime, clock: FrozenClock
) -> None:
    with population.transaction() as session:
        record_consent(
            session,
            patient_id=PATIENT_A,
            purpose="surveys",
            channel="sms",
            status="granted",
            source="portal",
            actor="patient",
            now=clock.now(),
        )
    clock.advance(timedelta(minutes=1))
    with population.transaction() as session:
        opt_out_channel(
            session,
            patient_id=PATIENT_A,
            channel="sms",
            source="sms-keyword",
            actor="sms",
            now=clock.now(),
        )
    assert not _decide(population, "care-reminders", "sms")
    assert not _decide(population, "surveys", "sms")
    assert _decide(population, "care-reminders", "email")
    clock.advance(timedelta(minutes=1))
    with population.transaction() as session:
        opt_in_channel(
            session,
            patient_id=PATIENT_A,
            channel="sms",
            source="sms-keyword",
            actor="sms",
            now=clock.now(),
        )
    assert _decide(population, "care-reminders", "sms")
    assert _decide(population, "surveys", "sms")
    assert not _decide(population, "marketing", "sms")


def test_batch_answers_match_single_answers(population: Runtime) -> None:
    ids = [PATIENT_A, PATIENT_B, PATIENT_DEAD, "nobody"]
    with population.transaction() as session:
        batch = consent_decisions(
            session,
            patient_ids=ids,
            purpose="care-reminders",
            channel="sms",
            now=population.clock.now(),
        )
        singles = {
            pid: consent_decision(
                session,
                patient_id=pid,
                purpose="care-reminders",
                channel="sms",
                now=population.clock.now(),
            )
            for pid in ids
        }
    assert batch == singles
    assert [batch[p].allowed for p in ids] == [True, True, False, False]


def _fhir_consent(status: str) -> dict[str, object]:
    return {
        "resourceType": "Consent",
        "id": "gov-consent-1",
        "status": status,
        "scope": {"coding": [{"code": "patient-privacy"}]},
        "category": [{"coding": [{"code": "59284-0"}]}],
        "patient": {"reference": f"Patient/{PATIENT_A}"},
        "dateTime": "2026-01-10T09:00:00Z",
        "provision": {
            "type": "permit",
            "purpose": [
                {"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": "HRESCH"}
            ],
            "provision": [
                {
                    "purpose": [
                        {
                            "system": "https://careloop.dev/fhir/CodeSystem/consent-purpose",
                            "code": "care-reminders",
                        }
                    ],
                    "extension": [
                        {
                            "url": "https://careloop.dev/fhir/StructureDefinition/consent-channel",
                            "valueCode": "voice",
                        }
                    ],
                }
            ],
        },
    }


def test_imported_fhir_consent_grants_research_and_denies_voice_reminders(
    rt: Runtime, tmp_path: Path
) -> None:
    load(rt, tmp_path, _fhir_consent("active"))
    with rt.transaction() as session:
        summary = sync_fhir_consents(session, now=rt.clock.now(), actor="test")
    assert summary.as_dict() == {"consents": 1, "records": 2, "skipped": {}}
    assert _decide(rt, "research", "email")
    assert not _decide(rt, "care-reminders", "voice")
    assert _decide(rt, "care-reminders", "sms")


def test_a_withdrawn_fhir_consent_leaves_nothing_behind(rt: Runtime, tmp_path: Path) -> None:
    load(rt, tmp_path, _fhir_consent("active"))
    with rt.transaction() as session:
        sync_fhir_consents(session, now=rt.clock.now(), actor="test")
    load(rt, tmp_path, _fhir_consent("inactive"))
    with rt.transaction() as session:
        summary = sync_fhir_consents(session, now=rt.clock.now(), actor="test")
    assert summary.skipped == {"status inactive": 1}
    assert not _decide(rt, "research", "email")


def test_staff_and_patient_change_consent_through_the_api(population: Runtime, api_client) -> None:  # type: ignore[no-untyped-def]
    change = {"changes": [{"purpose": "marketing", "channel": "email", "status": "granted"}]}
    staff = api_client("coordinator").put(f"/api/patients/{PATIENT_A}/consent", json=change)
    assert staff.status_code == 200
    assert staff.json()["decisions"]["marketing"]["email"]["allowed"] is True
    assert staff.json()["history"][-1]["source"] == "staff"
    patient = api_client("patient", patient_id=PATIENT_A)
    denied = {"changes": [{"purpose": "marketing", "channel": "*", "status": "denied"}]}
    own = patient.put(f"/api/patients/{PATIENT_A}/consent", json=denied)
    assert own.json()["history"][-1]["source"] == "portal"
    assert own.json()["decisions"]["marketing"]["email"]["allowed"] is False
    assert patient.get(f"/api/patients/{PATIENT_B}/consent").status_code == 404
    assert api_client("analyst").get(f"/api/patients/{PATIENT_A}/consent").status_code == 403


def test_a_bad_consent_change_names_the_field(population: Runtime, api_client) -> None:  # type: ignore[no-untyped-def]
    bad = {"changes": [{"purpose": "spam", "channel": "sms", "status": "granted"}]}
    response = api_client("coordinator").put(f"/api/patients/{PATIENT_A}/consent", json=bad)
    assert response.status_code == 422
    assert response.json()["field"].startswith("changes.0.purpose")


def test_consent_cli_sets_and_shows(population: Runtime, database_url: str) -> None:
    set_result = runner.invoke(
        cli,
        [
            "consent",
            "set",
            PATIENT_A,
            "--purpose",
            "research",
            "--channel",
            "email",
            "--status",
            "granted",
            "--source",
            "form",
            "--database",
            database_url,
            "--json",
        ],
    )
    assert set_result.exit_code == 0, set_result.output
    shown = runner.invoke(cli, ["consent", "show", PATIENT_A, "--database", database_url, "--json"])
    body = orjson.loads(shown.stdout)
    assert body["decisions"]["research"]["email"] == {"allowed": True, "reason": "opted in (form)"}
    bad = runner.invoke(
        cli,
        [
            "consent",
            "set",
            PATIENT_A,
            "--purpose",
            "research",
            "--channel",
            "fax",
            "--status",
            "granted",
            "--database",
            database_url,
        ],
    )
    assert bad.exit_code == 2
    assert "channel must be one of" in bad.output


def test_unsubscribe_link_confirms_on_get_and_unsubscribes_on_one_click_post(
    population: Runtime, api_client
) -> None:  # type: ignore[no-untyped-def]
    client = api_client(None)
    token = make_unsubscribe_token(
        key=signing_key(population.settings), patient_id=PATIENT_A, now=population.clock.now()
    )
    page = client.get(f"/unsubscribe/{token}")
    assert page.status_code == 200
    assert "Unsubscribe" in page.text
    assert _decide(population, "care-reminders", "email")
    done = client.post(
        f"/unsubscribe/{token}",
        content="List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"},
    )
    assert done.json() == {"unsubscribed": True, "channel": "email", "purpose": "*"}
    assert not _decide(population, "care-reminders", "email")
    assert _decide(population, "care-reminders", "sms")


def test_forged_and_expired_unsubscribe_links_are_refused(
    population: Runtime, api_client, clock: FrozenClock
) -> None:  # type: ignore[no-untyped-def]
    client = api_client(None)
    forged = make_unsubscribe_token(key=b"x" * 32, patient_id=PATIENT_A, now=clock.now())
    assert client.post(f"/unsubscribe/{forged}").status_code == 422
    token = make_unsubscribe_token(
        key=signing_key(population.settings), patient_id=PATIENT_A, now=clock.now()
    )
    tampered = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    assert client.post(f"/unsubscribe/{tampered}").status_code == 422
    clock.advance(timedelta(days=61))
    assert client.post(f"/unsubscribe/{token}").status_code == 422
    assert _decide(population, "care-reminders", "email")


def test_every_email_carries_one_click_headers() -> None:
    headers = list_unsubscribe_headers(base_url="https://care.example/", token="tok")
    assert headers == {
        "List-Unsubscribe": "<https://care.example/unsubscribe/tok>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }


def test_every_channel_at_once_answers_as_each_channel_alone(population: Runtime) -> None:
    ids = [PATIENT_A, PATIENT_B, PATIENT_DEAD, "nobody"]
    now = population.clock.now()
    with population.transaction() as session:
        opt_out_channel(
            session, patient_id=PATIENT_B, channel="sms", source="sms-keyword", actor="sms", now=now
        )
    later = now + timedelta(minutes=1)
    with population.transaction() as session:
        together = consent_decisions_by_channel(
            session,
            patient_ids=ids,
            purpose="care-reminders",
            channels=["sms", "email", "voice", "portal"],
            now=later,
        )
        alone = {
            channel: consent_decisions(
                session, patient_ids=ids, purpose="care-reminders", channel=channel, now=later
            )
            for channel in ("sms", "email", "voice", "portal")
        }
    assert together == alone
    assert together["sms"][PATIENT_B].allowed is False
    assert together["sms"][PATIENT_A].allowed is True


def test_shared_reads_answer_as_fresh_reads_and_read_each_patient_once(
    population: Runtime,
) -> None:
    ids = [PATIENT_A, PATIENT_B, PATIENT_DEAD, "nobody"]
    now = population.clock.now()
    with population.transaction() as session:
        opt_out_channel(
            session, patient_id=PATIENT_B, channel="sms", source="sms-keyword", actor="sms", now=now
        )
    ask = {"channels": ["sms", "email", "voice", "portal"], "now": now + timedelta(minutes=1)}
    with population.transaction() as session:
        fresh = consent_decisions_by_channel(
            session, patient_ids=ids, purpose="care-reminders", **ask
        )
    reads: dict = {}  # type: ignore[type-arg]
    with population.transaction() as session:
        share_consent_reads(session, reads)
        first = consent_decisions_by_channel(
            session, patient_ids=ids[:2], purpose="care-reminders", **ask
        )
        with statements(population.engine) as again:
            second = consent_decisions_by_channel(
                session, patient_ids=ids[:2], purpose="surveys", **ask
            )
        shared = consent_decisions_by_channel(
            session, patient_ids=ids, purpose="care-reminders", **ask
        )
    assert again == []
    assert set(reads) == {PATIENT_A, PATIENT_B, PATIENT_DEAD}
    assert shared == fresh
    assert {c: {p: fresh[c][p] for p in ids[:2]} for c in fresh} == first
    assert second["sms"][PATIENT_A].allowed is False  # surveys by text need an opt-in
