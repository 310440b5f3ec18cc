"""PostgreSQL: the owner foreign key of a large ``COPY`` checked once for all its rows.

``fhir_resources.patient_id`` references ``patients``. PostgreSQL checks that key row by row:
at the end of the ``COPY`` an internal trigger runs ``SELECT 1 FROM patients WHERE id = $1
FOR KEY SHARE`` once per inserted row, 25,000 times for an import's 100 owners, 12 % of the
import's server CPU (docs/benchmarks.md, imp2). The key itself stays, for every writer.

For a ``COPY`` of at least :data:`ONE_CHECK_ROWS` rows the writer takes the same lock on the
distinct owners in one statement and, when every one of them is a record, sends the rows with
``session_replication_role = replica`` (the internal triggers do not fire; the setting is
local to the transaction and put back right after). When an owner is missing, or the role may
not set that parameter (``GRANT SET ON PARAMETER session_replication_role``, PostgreSQL 15,
or a superuser), the rows are sent as before and the key's own per-row check raises its own
``ForeignKeyViolation``. An erasure racing the import waits for the lock, or the check sees
its commit and the rows take the per-row path, exactly as before.

Replica mode skips every trigger, not only the key's: ``fhir_resources`` and
``resource_facts`` have none that fire on ``INSERT``
(``tests/records/test_owner_check.py`` fails when one is added).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

ONE_CHECK_ROWS = 256
"""Below this many rows the three statements cost more than the per-row checks they save
(a feedback reading's few rows keep their round trips)."""

_LOCK_OWNERS = (
    "SELECT (SELECT count(*) FROM (SELECT 1 FROM patients WHERE id = ANY(%s::text[]) "
    "FOR KEY SHARE) AS held), current_setting('session_replication_role'), {allowed}"
)
_MAY_SET = {
    True: "has_parameter_privilege('session_replication_role', 'SET')",
    False: "(SELECT rolsuper FROM pg_roles WHERE rolname = current_user)",
}
"""Whether the role may set the parameter: a grant (PostgreSQL 15) or a superuser (before)."""
_SET_ROLE = "SELECT set_config('session_replication_role', %s, true)"


@contextmanager
def owners_checked_once(cursor: Any, owners: Iterable[str | None], *, rows: int) -> Iterator[bool]:
    """Around a ``COPY`` of ``rows`` rows into ``fhir_resources`` owned by ``owners``: yields
    whether the owners were checked and locked here (the rows' own checks then skipped)."""
    if rows < ONE_CHECK_ROWS:
        yield False
        return
    distinct = sorted(set(filter(None, owners)))
    modern = cursor.connection.info.server_version >= 150000
    cursor.execute(_LOCK_OWNERS.format(allowed=_MAY_SET[modern]), (distinct,))
    held, before, allowed = cursor.fetchone()
    if held != len(distinct) or not allowed or before == "replica":
        yield False
        return
    cursor.execute(_SET_ROLE, ("replica",))
    # Not put back after an error: the caller rolls its savepoint or transaction back,
    # which undoes this local setting with everything else.
    yield True
    cursor.execute(_SET_ROLE, (before,))
