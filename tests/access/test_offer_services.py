"""``careloop schedule offer``: what it lists without ``--service``, and what ``--service`` takes.

Listed for a man with no service named, the best times of every schedule put a mammogram
first; ``--service colonoscopy`` (the word a coordinator types, where the directory codes the
service in SNOMED) answered ``[]``, read as "no time fits"."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from careloop.cli import app
from careloop.runtime import Runtime
from tests.access.fhir_fixtures import (
    import_resources,
    john_and_two_clinics,
    make_due,
    schedule,
)

runner = CliRunner()


def _offer(rt: Runtime, *args: str) -> tuple[int, str, str]:
    url = rt.settings.database_url
    result = runner.invoke(app, ["schedule", "offer", "john", *args, "--database", url, "--json"])
    return result.exit_code, result.stdout, result.stderr


def test_without_a_service_only_what_the_patient_is_due_for_is_listed(
    rt: Runtime, tmp_path: Path
) -> None:
    john_and_two_clinics(rt, tmp_path, coded=True)
    make_due(rt, "john", "colorectal-cancer-screening")

    code, out, err = _offer(rt)

    assert code == 0, err
    assert [o["slot"] for o in json.loads(out)] == ["s-colon"]


def test_due_for_nothing_the_listing_asks_for_a_service(rt: Runtime, tmp_path: Path) -> None:
    john_and_two_clinics(rt, tmp_path, coded=True)

    code, _out, err = _offer(rt)

    assert code == 2
    assert "due for no service booked online; name one with --service" in err
    assert "Traceback" not in err


def test_a_service_is_named_by_its_name_in_any_case_or_its_code(
    rt: Runtime, tmp_path: Path
) -> None:
    john_and_two_clinics(rt, tmp_path, coded=True)

    by_word = _offer(rt, "--service", "colonoscopy")
    by_display = _offer(rt, "--service", "Colonoscopy")
    by_code = _offer(rt, "--service", "73761001")

    assert [json.loads(r[1]) for r in (by_word, by_display)] == [json.loads(by_code[1])] * 2
    assert [o["slot"] for o in json.loads(by_word[1])] == ["s-colon"]


def test_an_unknown_service_is_an_error_naming_the_known_ones(rt: Runtime, tmp_path: Path) -> None:
    john_and_two_clinics(rt, tmp_path, coded=True)

    code, out, err = _offer(rt, "--service", "dermatology")

    assert code == 2
    assert out == ""  # only a choice among candidates is written to stdout as JSON
    assert "'dermatology' is not a service of the directory" in err
    assert "Colonoscopy (73761001), Mammogram (71651007)" in err
    assert "Traceback" not in err


def _a_second_colonoscopy(rt: Runtime, tmp_path: Path) -> None:
    """A clinic whose own code ``COLO-2`` is also shown as "Colonoscopy"."""
    john_and_two_clinics(rt, tmp_path, coded=True)
    import_resources(
        rt, tmp_path / "second", [schedule("sch-colo2", service="COLO-2", display="colonoscopy")]
    )


def test_a_name_two_services_carry_is_an_error_listing_both(rt: Runtime, tmp_path: Path) -> None:
    """Before, the first code found won: one clinic's times offered as if they were all."""
    _a_second_colonoscopy(rt, tmp_path)

    code, out, err = _offer(rt, "--service", "Colonoscopy")

    assert code == 2
    assert "'Colonoscopy' names 2 services: Colonoscopy (73761001), colonoscopy (COLO-2)" in err
    assert "Traceback" not in err
    assert json.loads(out) == {
        "error": "--service 'Colonoscopy' names 2 services: Colonoscopy (73761001), "
        "colonoscopy (COLO-2); give the code",
        "field": "service",
        "candidates": [
            {"code": "73761001", "display": "Colonoscopy"},
            {"code": "COLO-2", "display": "colonoscopy"},
        ],
    }


def test_either_code_of_an_ambiguous_name_still_lists_its_times(
    rt: Runtime, tmp_path: Path
) -> None:
    _a_second_colonoscopy(rt, tmp_path)

    code, out, err = _offer(rt, "--service", "73761001")

    assert code == 0, err
    assert [o["slot"] for o in json.loads(out)] == ["s-colon"]


def test_two_codings_of_one_concept_are_one_service(rt: Runtime, tmp_path: Path) -> None:
    """SNOMED and the clinic's own code side by side on one Schedule: no choice to make."""
    john_and_two_clinics(rt, tmp_path, coded=True)
    both = schedule("sch-colon", service="73761001", display="Colonoscopy")
    local = {"system": "http://example.org/local", "code": "COLO-9", "display": "Colonoscopy"}
    both["serviceType"][0]["coding"].append(local)
    import_resources(rt, tmp_path / "again", [both])

    code, out, err = _offer(rt, "--service", "colonoscopy")

    assert code == 0, err
    assert [o["slot"] for o in json.loads(out)] == ["s-colon"]
