"""ntx: the nightly fact read with awkward codes and patient ids gives the same facts on
SQLite (filter in Python) and PostgreSQL (the text[] literals)."""

from __future__ import annotations

from sqlalchemy import insert

from careloop.models import ResourceFact, ResourceFactBody
from careloop.records.projection import SharedFacts, load_patient_facts
from careloop.runtime import Runtime

CODES = [
    '"',
    "\\",
    '\\"',
    "{x}",
    "a,b",
    "é",
    "}{",
    "'",
    "NULL",
    "null",
    "x');DROP_TABLE_t;--",
    "中",
    "\U0001f600",
    "plain",
]
PATIENTS = ["p-1", 'p"2', "p\\3", "p,4", "{p5}", "NULL"]


def _seed(rt: Runtime) -> None:
    rows = []
    for p_index, pid in enumerate(PATIENTS):
        for c_index, code in enumerate(CODES):
            rows.append(
                {
                    "resource_type": "Observation",
                    "fhir_id": f"o{p_index}-{c_index}",
                    "patient_id": pid,
                    "codes": code,
                    "fact": {"i": c_index},
                }
            )
            rows.append(
                {
                    "resource_type": "Condition",
                    "fhir_id": f"c{p_index}-{c_index}",
                    "patient_id": pid,
                    "codes": f"zz {code}",
                    "fact": {"c": c_index},
                }
            )
    bodies = [
        {"resource_type": r["resource_type"], "fhir_id": r["fhir_id"], "fact": r.pop("fact")}
        for r in rows
    ]
    with rt.transaction() as session:
        session.execute(insert(ResourceFact), rows)
        session.execute(insert(ResourceFactBody), bodies)


def test_the_code_filter_keeps_the_same_facts_on_both_backends(rt: Runtime) -> None:
    _seed(rt)
    wanted = {'"', "\\", "{x}", "a,b", "é", "NULL", "x');DROP_TABLE_t;--", "\U0001f600"}
    with rt.transaction() as session:
        got = {
            pid: sorted(map(str, facts))
            for pid, facts in load_patient_facts(
                session, patient_ids=list(PATIENTS), only_codes=wanted, batch=4
            )
        }
    expected = sorted(
        [str({"i": CODES.index(c)}) for c in wanted] + [str({"c": CODES.index(c)}) for c in wanted]
    )
    assert got == dict.fromkeys(PATIENTS, expected)
    facts = SharedFacts(codes=wanted, always={"Patient"})
    with rt.transaction() as session:
        shared = dict(facts.rows(session, list(PATIENTS), batch=4))
    assert sorted(shared) == sorted(PATIENTS)
    assert {pid: len(rows) for pid, rows in shared.items()} == {
        pid: 2 * len(wanted) for pid in PATIENTS
    }
