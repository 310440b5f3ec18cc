"""A burst of Twilio status callbacks from one address, and the portal's check-in look-up.

Behind a reverse proxy (or from one Twilio egress address) every callback comes from one
address. This sends ``--callbacks`` delivery receipts, each signed with Twilio's own
``RequestValidator``, through the real app (``TestClient``, a fresh SQLite file, the clock
frozen so the whole burst arrives at once, as it does from Twilio at scale), then
``--forged`` badly signed ones, and counts the answers and the rows marked delivered. Then it
times the journeys' look-up a portal view with a waiting check-in makes (``--views`` calls):
read and compiled every time (before), cached by file modification time (after).

    .venv/bin/python benchmarks/webhook_burst.py --callbacks 1000 --forged 200
    PYTHONPATH=/tmp/old/src:/tmp/old .venv/bin/python benchmarks/webhook_burst.py   # another tree

Prints one JSON line: answers per status, delivered rows, wall and CPU seconds of each part.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

TOKEN = "bench-auth-token"
BASE = "http://127.0.0.1:8000"


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _text(n: int, now: datetime) -> Any:
    from careloop.outreach.outbox import NewMessage

    return NewMessage(
        idempotency_key=f"sms:bench:{n}",
        patient_id="bench",
        purpose="care-reminders",
        channel="sms",
        to_address="+16175550177",
        body="Your screening is due.",
        due_at=now,
    )


def _sent_texts(rt: Any, count: int) -> list[int]:
    """``count`` texts handed to Twilio, provider id ``SM<outbox id>``."""
    from sqlalchemy import String, cast, literal, update

    from careloop.models import OutboxMessage
    from careloop.outreach.outbox import enqueue_many

    now = rt.clock.now()
    with rt.transaction() as session:
        queued = enqueue_many(session, messages=[_text(n, now) for n in range(count)], now=now)
        sid = literal("SM") + cast(OutboxMessage.id, String)
        session.execute(update(OutboxMessage).values(state="sent", provider_id=sid, sent_at=now))
        return [row.id for row in queued if row]


def _burst(rt: Any, *, callbacks: int, forged: int) -> dict[str, Any]:
    from fastapi.testclient import TestClient
    from sqlalchemy import func, select
    from twilio.request_validator import RequestValidator

    from careloop.models import OutboxMessage
    from careloop.web.app import create_app

    ids = _sent_texts(rt, callbacks)
    client = TestClient(create_app(rt), raise_server_exceptions=False)
    signer, forger = RequestValidator(TOKEN), RequestValidator("guess")
    answers: Counter[str] = Counter()
    started, cpu = time.perf_counter(), _cpu()
    for message_id in ids:
        path = f"/webhooks/twilio/status?m={message_id}"
        params = {"MessageSid": f"SM{message_id}", "MessageStatus": "delivered"}
        signature = signer.compute_signature(BASE + path, params)
        answer = client.post(path, data=params, headers={"X-Twilio-Signature": signature})
        answers[f"signed {answer.status_code}"] += 1
    wall, cpu = time.perf_counter() - started, _cpu() - cpu
    for _ in range(forged):
        path = f"/webhooks/twilio/status?m={ids[0]}"
        params = {"MessageSid": f"SM{ids[0]}", "MessageStatus": "failed", "ErrorCode": "30006"}
        signature = forger.compute_signature(BASE + path, params)
        answer = client.post(path, data=params, headers={"X-Twilio-Signature": signature})
        answers[f"forged {answer.status_code}"] += 1
    with rt.transaction() as session:
        delivered = session.scalar(select(func.count()).where(OutboxMessage.state == "delivered"))
    return {
        "answers": dict(sorted(answers.items())),
        "delivered": delivered,
        "callbacks_wall_s": round(wall, 2),
        "callbacks_cpu_s": round(cpu, 2),
    }


def _program_lookup(rt: Any, *, views: int) -> dict[str, Any]:
    """What a portal view with a waiting check-in spends finding the journeys: every file
    read and compiled (before), or the cached programs (``outreach.program_files``, after)."""
    from careloop.outreach.config import outreach_settings
    from careloop.outreach.service import load_outreach_programs

    own, _ = outreach_settings(rt.settings)
    lookups: dict[str, Any] = {"read every view": load_outreach_programs}
    try:
        from careloop.outreach.program_files import outreach_programs_by_name
    except ImportError:  # a tree before the cache
        pass
    else:
        lookups["cached"] = outreach_programs_by_name
    result: dict[str, Any] = {}
    for name, lookup in lookups.items():
        lookup(own)  # the first read (and the programs library's own cache) warmed
        started, cpu = time.perf_counter(), _cpu()
        for _ in range(views):
            lookup(own)
        wall, cpu = time.perf_counter() - started, _cpu() - cpu
        result[f"lookup_ms {name}"] = round(1000 * wall / views, 2)
        result[f"lookup_cpu_ms {name}"] = round(1000 * cpu / views, 2)
    return result


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--callbacks", type=int, default=1000)
    parser.add_argument("--forged", type=int, default=200)
    parser.add_argument("--views", type=int, default=50)
    args = parser.parse_args(argv)
    logging.disable(logging.WARNING)  # 'twilio signature refused' per forged request
    with tempfile.TemporaryDirectory() as folder:
        os.environ["CARELOOP_CHANNELS__SMS__AUTH_TOKEN"] = TOKEN
        os.environ["CARELOOP_DATABASE_URL"] = f"sqlite:///{Path(folder) / 'bench.db'}"
        from careloop.clock import FrozenClock, SystemClock
        from careloop.runtime import open_runtime

        # The burst arrives within one instant: a 5,000 msg/s dispatch brings ~12,500
        # callbacks a second, 250 times the bucket's refill, while one client here sends
        # a few dozen a second; with a running clock this would time the client.
        rt = open_runtime(clock=FrozenClock(SystemClock().now()))
        result = {
            **_burst(rt, callbacks=args.callbacks, forged=args.forged),
            **_program_lookup(rt, views=args.views),
        }
        rt.engine.dispose()
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
