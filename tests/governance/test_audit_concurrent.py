"""Two requests auditing at once keep one chain, on both databases.

Found walking the demo on SQLite: saving the portal's preferences (an htmx post, its redirect
and the next page load at once) forked the chain (two rows naming the same previous hash), and
`careloop audit verify` reported it broken. SQLite's writer lock was taken only at the first
write, after both requests had read the same chain head."""

from __future__ import annotations

import threading
import time

from careloop.audit import Purpose, audit, verify_chain
from careloop.runtime import Runtime
from careloop.security.principal import CLI_OPERATOR


def _audit(rt: Runtime, session: object, patient: str) -> None:
    audit(
        session,  # type: ignore[arg-type]
        clock=rt.clock,
        principal=CLI_OPERATOR,
        action="read",
        resource="patient-view",
        purpose=Purpose.TREATMENT,
        patient_ids=[patient],
    )


def test_two_requests_auditing_at_once_keep_one_chain(rt: Runtime) -> None:
    with rt.transaction() as session:
        _audit(rt, session, "ac-000")  # the head row exists, as on any running site
    first_wrote, release = threading.Event(), threading.Event()

    def first() -> None:
        with rt.transaction() as session:
            _audit(rt, session, "ac-001")
            first_wrote.set()
            release.wait(10)

    def second() -> None:
        with rt.transaction() as session:
            _audit(rt, session, "ac-002")

    one = threading.Thread(target=first)
    one.start()
    first_wrote.wait(10)
    two = threading.Thread(target=second)
    two.start()
    time.sleep(0.5)  # the second request reaches the chain head while the first holds it
    release.set()
    one.join(15)
    two.join(15)

    with rt.transaction() as session:
        report = verify_chain(session)
    assert report.ok, report.reason
    assert report.checked == 3
