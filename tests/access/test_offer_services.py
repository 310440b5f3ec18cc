"""``careloop schedule offer``: what it lists without ``--service``, and what ``--service`` takes.

Listed for a man with no service named, the best times of every schedule put a mammogram
first; ``--service colonoscopy`` (the word a coordinator types, where the directory codes the
service in SNOMED) answered ``[]``, read as "no time fits"."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from careloop.cli import app
from careloop.runtime import Runtime
from tests.access.fhir_fixtures import (
    caregiver,
    import_resources,
    location,
    make_due,
    patient,
    slot,
)

runner = CliRunner()
SNOMED = "http://snomed.info/sct"


def _schedule(sid: str, code: str, display: str) -> dict[str, Any]:
    concept = {"coding": [{"system": SNOMED, "code": code, "display": display}]}
    return {
        "resourceType": "Schedule",
        "id": sid,
        "serviceType": [concept],
        "actor": [{"reference": "Location/clinic-main"}],
    }


def _john_and_two_clinics(rt: Runtime, tmp_path: Path) -> None:
    """A man whose wife is free weekday afternoons; a mammography and a colonoscopy
    schedule coded in SNOMED, the mammogram at the better time."""
    day = datetime.combine(datetime.now(UTC).date() + timedelta(days=3), datetime.min.time())
    weekday = day + timedelta(days=(7 - day.weekday()) % 7 if day.weekday() > 3 else 0)
    at = weekday.replace(tzinfo=UTC)
    import_resources(
        rt,
        tmp_path,
        [
            patient("john"),
            caregiver("john", "john-wife"),
            location(),
            _schedule("sch-mammo", "71651007", "Mammogram"),
            _schedule("sch-colon", "73761001", "Colonoscopy"),
            slot("s-mammo", schedule_id="sch-mammo", start=at + timedelta(hours=21)),
            slot("s-colon", schedule_id="sch-colon", start=at + timedelta(hours=22)),
        ],
    )


def _offer(rt: Runtime, *args: str) -> tuple[int, str, str]:
    url = rt.settings.database_url
    result = runner.invoke(app, ["schedule", "offer", "john", *args, "--database", url, "--json"])
    return result.exit_code, result.stdout, result.stderr


def test_without_a_service_only_what_the_patient_is_due_for_is_listed(
    rt: Runtime, tmp_path: Path
) -> None:
    _john_and_two_clinics(rt, tmp_path)
    make_due(rt, "john", "colorectal-cancer-screening")

    code, out, err = _offer(rt)

    assert code == 0, err
    assert [o["slot"] for o in json.loads(out)] == ["s-colon"]


def test_due_for_nothing_the_listing_asks_for_a_service(rt: Runtime, tmp_path: Path) -> None:
    _john_and_two_clinics(rt, tmp_path)

    code, _out, err = _offer(rt)

    assert code == 2
    assert "due for no service booked online; name one with --service" in err
    assert "Traceback" not in err


def test_a_service_is_named_by_its_name_in_any_case_or_its_code(
    rt: Runtime, tmp_path: Path
) -> None:
    _john_and_two_clinics(rt, tmp_path)

    by_word = _offer(rt, "--service", "colonoscopy")
    by_display = _offer(rt, "--service", "Colonoscopy")
    by_code = _offer(rt, "--service", "73761001")

    assert [json.loads(r[1]) for r in (by_word, by_display)] == [json.loads(by_code[1])] * 2
    assert [o["slot"] for o in json.loads(by_word[1])] == ["s-colon"]


def test_an_unknown_service_is_an_error_naming_the_known_ones(rt: Runtime, tmp_path: Path) -> None:
    _john_and_two_clinics(rt, tmp_path)

    code, out, err = _offer(rt, "--service", "dermatology")

    assert code == 2
    assert out == ""
    assert "'dermatology' is not a service of the directory" in err
    assert "Colonoscopy (73761001), Mammogram (71651007)" in err
    assert "Traceback" not in err
