"""The code filter of the fact read selects, in PostgreSQL, exactly the facts the filter in
Python selects (SQLite's path): one-code rows compared whole, rows with several codes split,
and the awkward wanted codes (empty, with a space) that only splitting would reject."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from careloop.models import ResourceFact, ResourceFactBody
from careloop.records.projection import _wanted, load_patient_facts
from careloop.runtime import Runtime
from tests.records.test_shared_facts import _import_two


def test_the_database_filter_selects_what_the_python_filter_selects(
    rt: Runtime, tmp_path: Path
) -> None:
    _import_two(rt, tmp_path)
    with rt.transaction() as session:
        rows = session.execute(
            select(ResourceFact.patient_id, ResourceFact.resource_type, ResourceFact.codes,
                   ResourceFactBody.fact)
            .join(ResourceFactBody, (ResourceFactBody.resource_type == ResourceFact.resource_type)
                  & (ResourceFactBody.fhir_id == ResourceFact.fhir_id))
        ).all()  # fmt: skip
    multi = sorted({codes for _, _, codes, _ in rows if " " in codes})
    single = sorted({codes for _, _, codes, _ in rows if codes and " " not in codes})
    assert len(multi) >= 2
    assert single
    assert any(codes == "" for _, _, codes, _ in rows)
    wanted = {*single[::3], multi[0].split()[-1], ""}  # "" matches no row, not even ""
    # A whole multi-code list none of whose codes is wanted: splitting never equals it.
    whole = next(m for m in multi[1:] if not set(m.split()) & wanted)
    wanted.add(whole)
    always = frozenset({"Patient"})
    selected = [
        (str(pid), str(fact["id"]), codes)
        for pid, rtype, codes, fact in rows
        if _wanted(rtype, codes, always=always, codes_wanted=frozenset(wanted))
    ]
    with rt.transaction() as session:
        found = sorted(
            (pid, str(fact["id"]))
            for pid, facts in load_patient_facts(
                session, only_codes=wanted, always_types=sorted(always)
            )
            for fact in facts
        )
    assert found == sorted((pid, fid) for pid, fid, _ in selected)
    assert any(codes == multi[0] for _, _, codes in selected)  # found by its last code
    assert any(codes in wanted for _, _, codes in selected)  # one-code rows found whole
    assert not any(codes == whole for _, _, codes in selected)
