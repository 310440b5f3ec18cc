"""A send in doubt whose settling was cut short is still found at the gateway next time.

The worker remembers the gateway records it matched to messages in doubt but has not recorded
yet (so two messages in doubt never take one record). When the recording does not happen (the
database went away, the rows were taken), the message stays ``sending`` and the same worker
re-claims it once its lease ends: its own record at the gateway must still count as its own,
or the gateway's "no record of it" is untrue and the patient gets the text twice.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy.exc import OperationalError
from tests.outreach.conftest import Loop, WorkerKilled, dies_after_sends
from tests.outreach.test_outreach_dispatch import _calls_per_key, _queue, _states

from careloop.outreach.results import Outcome
from careloop.runtime import Runtime


def test_a_send_in_doubt_found_but_not_recorded_is_found_again_not_sent_twice(
    rt: Runtime, make_loop: Callable[..., Loop]
) -> None:
    loop = make_loop([], {})
    own = loop.worker.settings
    grouped = own.worker.model_copy(update={"results_per_commit": 6})
    loop.worker.settings = own.model_copy(update={"worker": grouped})
    keys = _queue(rt, 4, senders=2)
    with dies_after_sends(loop.sms, 2), contextlib.suppress(WorkerKilled):
        loop.worker.run_once()  # 2 of the group of 4 sent, none recorded
    lease = timedelta(seconds=loop.worker.settings.worker.lease_seconds + 1)
    loop.advance(lease)

    record = loop.worker.record

    def database_gone_once(outcomes: list[Outcome], **kwargs: Any) -> Any:
        if any(o.reconciled for o in outcomes) and not failed:
            failed.append(True)
            raise OperationalError("UPDATE", {}, Exception("server closed the connection"))
        return record(outcomes, **kwargs)

    failed: list[bool] = []
    loop.worker.record = database_gone_once  # type: ignore[method-assign]
    with contextlib.suppress(OperationalError):
        loop.worker.run_once()  # found both at the gateway; the record never landed
    assert failed
    loop.advance(lease)  # its lease ends; the same worker re-claims and asks again
    loop.work()

    assert _calls_per_key(loop.sms, keys) == [1, 1, 1, 1]
    assert _states(rt, keys) == ["sent"] * 4
