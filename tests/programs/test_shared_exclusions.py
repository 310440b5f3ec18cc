"""Hospice and palliative care, asked by every program, are answered once per patient and
window on a night's shared facts, and the verdicts stay those of each program alone."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.ops.test_nightly import _population
from tests.ops.test_nightly_batched import _programs, _verdicts

from careloop.programs.eligibility import shares_record_exclusions
from careloop.programs.expressions import common_library
from careloop.records.resources import store_resources
from careloop.records.service import patient_ids
from careloop.runtime import Runtime
from careloop.security.principal import CLI_OPERATOR


def _hospice_encounter(fhir_id: str, patient_id: str, day: datetime) -> dict[str, object]:
    system, code = sorted(common_library().codeset("Hospice Encounter"))[0]
    return {
        "resourceType": "Encounter",
        "id": fhir_id,
        "status": "finished",
        "class": {"code": "AMB"},
        "type": [{"coding": [{"system": system, "code": code}]}],
        "subject": {"reference": f"Patient/{patient_id}"},
        "period": {"start": day.isoformat(), "end": day.replace(hour=18).isoformat()},
    }


def test_a_hospice_stay_excludes_in_the_windows_it_falls_in_shared_or_alone(rt: Runtime) -> None:
    _population(rt)
    assert all(shares_record_exclusions(p.source) for p in _programs(rt))
    with rt.transaction() as session:
        ids = patient_ids(session)
        store_resources(
            session,
            [
                # March: in the rolling and calendar years, not in the flu season (Aug-Dec)
                _hospice_encounter("hospice-march", ids[0], datetime(2026, 3, 10, 9, tzinfo=UTC)),
                _hospice_encounter("hospice-oct", ids[1], datetime(2026, 10, 5, 9, tzinfo=UTC)),
            ],
            clock=rt.clock,
            principal=CLI_OPERATOR,
        )
    alone = _verdicts(rt, shared=False)
    together = _verdicts(rt, shared=True)

    assert together == alone

    def excluded(program: str, pid: str) -> str | None:
        return next(v[4] for v in alone[program] if v[0] == pid)

    assert excluded("annual-wellness-visit", ids[0]) == "hospice"
    assert excluded("breast-cancer-screening", ids[0]) == "hospice"
    assert excluded("flu-shot-this-season", ids[0]) != "hospice"
    assert excluded("flu-shot-this-season", ids[1]) == "hospice"
    assert excluded("oncology-symptom-checkin", ids[1]) == "hospice"
