"""Replicate imported patients inside PostgreSQL, for benchmarks at population scale.

Copies every patient of a careloop database (with its resources and their codes)
``--copies`` times under new ids (``<id>-r<k>``), in SQL, so a 100-patient import becomes a
10,000-patient population in a minute without re-parsing FHIR.

    .venv/bin/python benchmarks/replicate_pg.py --database postgresql://.../db --copies 99
"""

from __future__ import annotations

import argparse
import time

import psycopg

STEPS = (
    """INSERT INTO patients (id, given_name, family_name, birth_date, gender, language, timezone,
         timezone_source, deceased, deceased_at, race, ethnicity, contact_points, address,
         created_at, updated_at)
       SELECT id || %(suffix)s, given_name, family_name, birth_date, gender, language, timezone,
         timezone_source, deceased, deceased_at, race, ethnicity, contact_points, address,
         created_at, updated_at
       FROM patients WHERE id NOT LIKE '%%-r%%'""",
    """INSERT INTO fhir_resources (resource_type, fhir_id, patient_id, patient_ref, status,
         effective_start, effective_end, codes, supported, resource, source, imported_at)
       SELECT resource_type, fhir_id || %(suffix)s, patient_id || %(suffix)s,
         patient_ref || %(suffix)s, status, effective_start, effective_end, codes, supported,
         jsonb_set(resource, '{id}', to_jsonb(fhir_id || %(suffix)s)), source, imported_at
       FROM fhir_resources
       WHERE patient_id IS NOT NULL AND patient_id NOT LIKE '%%-r%%'""",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database", required=True)
    parser.add_argument("--copies", type=int, default=99)
    args = parser.parse_args()
    url = args.database.replace("postgresql+psycopg://", "postgresql://")
    started = time.perf_counter()
    with psycopg.connect(url) as conn:
        for k in range(1, args.copies + 1):
            for step in STEPS:
                conn.execute(step, {"suffix": f"-r{k}"})
            conn.commit()
        conn.execute("ANALYZE")
        patients = conn.execute("SELECT count(*) FROM patients").fetchone()
    print(f"patients now: {patients[0] if patients else 0} ({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
