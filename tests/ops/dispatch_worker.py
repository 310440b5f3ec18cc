"""A worker process for the PostgreSQL-restart test: the real loop (`run_worker_loop`), an SMS
fake that records every call it receives in a file (one line per call, nothing dropped).

    python tests/ops/dispatch_worker.py DATABASE_URL SENDS_FILE
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from careloop.channels.messages import ChannelKind, DeliveryStatus, SendResult
from careloop.channels.registry import ChannelRegistry
from careloop.compose.process import run_worker_loop
from careloop.compose.worker import build_worker
from careloop.models import OutboxMessage
from careloop.outreach.config import OutreachSettings, WorkerSettings
from careloop.outreach.states import PENDING_STATES
from careloop.runtime import open_runtime

SENDERS = ("+15559000001", "+15559000002")


class RecordingSms:
    """Records each call (idempotency key per line) and accepts it, as a gateway would."""

    kind = ChannelKind.SMS

    def __init__(self, path: Path) -> None:
        self.out = path.open("ab", buffering=0)

    def rate_limit(self, sender: str | None) -> None:
        return None

    def send(self, message: Any) -> SendResult:
        self.out.write(f"{message.idempotency_key}\n".encode())
        return SendResult(provider_id=f"sm-{message.idempotency_key}", status=DeliveryStatus.QUEUED)


def main(url: str, sends: str) -> None:
    rt = open_runtime(database=url, run_migrations=False)
    worker = build_worker(
        rt,
        worker_id="restart-test",
        channels=ChannelRegistry({ChannelKind.SMS: RecordingSms(Path(sends))}),
    )
    worker.settings = OutreachSettings(
        sender_rates={f"sms:{s}": 150.0 for s in SENDERS},
        worker=WorkerSettings(batch=50, lease_seconds=3.0, poll_seconds=0.1),
    )

    def done() -> bool:
        try:
            with rt.transaction() as session:
                pending = session.scalar(
                    select(func.count())
                    .select_from(OutboxMessage)
                    .where(OutboxMessage.state.in_([str(s) for s in PENDING_STATES]))
                )
        except SQLAlchemyError:
            return False  # the database is restarting: not done
        return pending == 0

    run_worker_loop(worker, None, stop=done)
    rt.close()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
