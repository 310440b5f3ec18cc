"""Rewards through the faces: the CLI awards and fulfils, the API fulfils for the gift vendor,
the portal shows a patient their own rewards (and nobody else's)."""

from __future__ import annotations

import json

from loyalty_fixtures import add_patient
from typer.testing import CliRunner

from careloop.cli import app
from careloop.runtime import Runtime

runner = CliRunner()


def _award(database_url: str, key: str) -> dict:  # type: ignore[type-arg]
    result = runner.invoke(
        app,
        ["rewards", "award", "referral", "--patient", "ana", "--key", key,
         "--database", database_url, "--json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_staff_award_referrals_up_to_the_cap_and_hand_one_over(
    rt: Runtime, database_url: str
) -> None:
    """The shipped catalogue allows two referral rewards a year."""
    with rt.transaction() as session:
        add_patient(session, "ana")
    first, _second, third = (_award(database_url, key) for key in ("r1", "r2", "r3"))
    entry = first["entry"]["id"]
    handed = runner.invoke(
        app, ["rewards", "fulfil", str(entry), "--reference", "desk-1", "--database", database_url]
    )
    listed = runner.invoke(
        app, ["rewards", "list", "--patient", "ana", "--database", database_url, "--json"]
    )

    assert first["awarded"] is True
    assert third == {"awarded": False, "refused": "reward_cap", "entry": None}
    assert handed.exit_code == 0, handed.output
    assert [(r["reward"], r["state"]) for r in json.loads(listed.stdout)] == [
        ("referral", "earned"),
        ("referral", "fulfilled"),
    ]


def test_an_unknown_reward_is_one_line_naming_it(rt: Runtime, database_url: str) -> None:
    with rt.transaction() as session:
        add_patient(session, "ana")
    result = runner.invoke(
        app,
        ["rewards", "award", "free-iphone", "--patient", "ana", "--key", "x",
         "--database", database_url],
    )  # fmt: skip
    assert result.exit_code == 2
    assert "unknown reward 'free-iphone'" in result.output
    assert "Traceback" not in result.output


def test_the_vendor_webhook_fulfils_and_the_patient_sees_it_in_the_portal(
    rt: Runtime, database_url: str, api_client
) -> None:  # type: ignore[no-untyped-def]
    with rt.transaction() as session:
        add_patient(session, "ana")
        add_patient(session, "bo")
    awarded = runner.invoke(
        app,
        ["rewards", "award", "referral", "--patient", "ana", "--key", "r1",
         "--database", database_url, "--json"],
    )  # fmt: skip
    entry = json.loads(awarded.stdout)["entry"]["id"]
    vendor = api_client("coordinator")
    patient = api_client("patient", patient_id="ana")
    other = api_client("patient", patient_id="bo")

    refused = patient.post(f"/api/rewards/{entry}/fulfilment", json={"how": "webhook"})
    bad = vendor.post(f"/api/rewards/{entry}/fulfilment", json={"how": "pigeon"})
    done = vendor.post(
        f"/api/rewards/{entry}/fulfilment", json={"how": "webhook", "reference": "gc-991"}
    )
    again = vendor.post(
        f"/api/rewards/{entry}/fulfilment", json={"how": "webhook", "reference": "gc-991"}
    )
    own = patient.get("/api/patients/ana/rewards")
    theirs = other.get("/api/patients/ana/rewards")
    page = patient.get("/portal/rewards")

    assert refused.status_code == 403
    assert bad.status_code == 422
    assert "how" in bad.text
    assert done.status_code == 200
    assert done.json()["state"] == "fulfilled"
    assert again.status_code == 200
    assert [r["fulfilment"] for r in own.json()] == ["webhook"]
    assert theirs.status_code == 404
    assert page.status_code == 200, page.text
    assert "A friend you referred" in page.text
    assert "$10.00" in page.text
