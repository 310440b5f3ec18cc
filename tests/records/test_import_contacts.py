"""Contact look-ups of the records an import refreshes: written for a batch of patients at
once, each patient keeps exactly its current points and its caregivers' stay theirs. And what
the import does to the process it runs in: the heap it froze is given back."""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

import orjson
import pytest

from careloop import collector
from careloop.records import importer
from careloop.records.contacts import find_patients_by_contact
from careloop.records.importer import import_paths
from careloop.runtime import Runtime
from careloop.security.principal import CLI_OPERATOR
from tests.conftest import FIXTURES


def _patient(fhir_id: str, phone: str) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": fhir_id,
        "identifier": [{"system": "urn:oid:1.2.3.4", "value": f"MRN-{fhir_id}"}],
        "name": [{"family": "Testperson", "given": [fhir_id]}],
        "birthDate": "1960-04-02",
        "telecom": [{"system": "phone", "value": phone, "use": "mobile"}],
    }


def _caregiver(fhir_id: str, patient: str, phone: str) -> dict[str, Any]:
    return {
        "resourceType": "RelatedPerson",
        "id": fhir_id,
        "patient": {"reference": f"Patient/{patient}"},
        "name": [{"family": "Carer"}],
        "telecom": [{"system": "phone", "value": phone}],
    }


def _write(folder: Path, name: str, *resources: dict[str, Any]) -> Path:
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [{"resource": r} for r in resources],
    }
    path = folder / f"{name}.json"
    path.write_bytes(orjson.dumps(bundle))
    return path


def _import(rt: Runtime, *paths: Path) -> None:
    summary = import_paths(
        rt.sessions,
        engine=rt.engine,
        paths=list(paths),
        clock=rt.clock,
        principal=CLI_OPERATOR,
        default_timezone="UTC",
        workers=0,
    )
    assert summary.rejected == []


def _who(rt: Runtime, phone: str, *, caregivers: bool = False) -> list[str]:
    with rt.transaction() as session:
        return find_patients_by_contact(
            session, system="phone", value=phone, include_caregivers=caregivers
        )


def _owner(rt: Runtime, phone: str) -> str:
    found = _who(rt, phone)
    assert len(found) == 1
    return found[0]


def test_patients_imported_together_are_found_by_their_own_numbers_after_a_change(
    rt: Runtime, tmp_path: Path
) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    _import(
        rt,
        _write(first, "a", _patient("pa", "+15550100011"), _caregiver("ca", "pa", "+15550100033")),
        _write(first, "b", _patient("pb", "+15550100022")),
    )
    a, b = _owner(rt, "+15550100011"), _owner(rt, "+15550100022")
    # A changes number; B is imported again unchanged in the same batch.
    _import(
        rt,
        _write(second, "a", _patient("pa", "+15550100044")),
        _write(second, "b", _patient("pb", "+15550100022")),
    )

    assert a != b
    assert _who(rt, "+15550100011") == []
    assert _who(rt, "+15550100044") == [a]
    assert _who(rt, "+15550100022") == [b]
    assert _who(rt, "+15550100033") == []  # a caregiver's number is not the patient's own
    assert _who(rt, "+15550100033", caregivers=True) == [a]


def test_after_an_import_every_object_is_collectable_again(rt: Runtime) -> None:
    """A long-lived process (the API's demo and pilot imports) collects as before: the
    import's hold is released (a settled batch process's own lifelong hold may remain)."""
    holds = collector.holds()
    _import(rt, FIXTURES / "fhir" / "good_bundle.json")

    assert collector.holds() == holds
    if holds == 0:
        assert gc.get_freeze_count() == 0
    assert gc.isenabled()


def test_an_import_that_fails_still_releases_its_hold(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    holds = collector.holds()

    def refuse(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the writer failed")

    monkeypatch.setattr(importer._BatchWriter, "__call__", refuse)
    with pytest.raises(RuntimeError):
        _import(rt, FIXTURES / "fhir" / "good_bundle.json")

    assert collector.holds() == holds


def test_a_caregivers_own_language_is_kept_from_the_record(rt: Runtime, tmp_path: Path) -> None:
    from careloop.models import Caregiver

    spanish = _caregiver("cs", "pl", "+15550100044")
    spanish["communication"] = [
        {"language": {"coding": [{"system": "urn:ietf:bcp:47", "code": "en"}]}},
        {
            "language": {"coding": [{"system": "urn:ietf:bcp:47", "code": "es"}]},
            "preferred": True,
        },
    ]
    silent = _caregiver("cn", "pl", "+15550100045")
    _import(rt, _write(tmp_path, "l", _patient("pl", "+15550100043"), spanish, silent))

    with rt.transaction() as session:
        assert session.get(Caregiver, "cs").language == "es"  # type: ignore[union-attr]
        assert session.get(Caregiver, "cn").language is None  # type: ignore[union-attr]
