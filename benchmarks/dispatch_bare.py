"""The machine's ceiling for ``benchmarks/dispatch.py``: the same sending path, no database.

Each of ``processes`` processes builds the Twilio client and channel exactly as a dispatch
worker does (``build_twilio_client``, :class:`TwilioSmsChannel`, the recording gateway
mounted under ``requests``), turns outbox-like rows into requests with the worker's own
``outbound_message`` and calls ``channel.send`` from ``threads`` concurrent senders. No
claim, no slot, no result written: what is left is what every send costs at least (the
adapter's request, ``requests``, the gateway's own recording), so ``msgs_per_s / bare``
says how far the outbox is from what this machine allows at all.
"""

from __future__ import annotations

import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import orjson

BODY = "Your screening mammogram is due. Book at https://rvcl.org/book."


def send_bare(*, sends: Path, start: int, count: int, senders: int, threads: int) -> None:
    """One process: ``count`` messages from ``start`` through the worker's sending path."""
    from careloop.channels.settings import SenderType, SmsSender
    from careloop.channels.sms_twilio import TwilioSmsChannel
    from careloop.channels.twilio_http import build_twilio_client
    from careloop.outreach.claims import Claimed
    from careloop.outreach.outbound import outbound_message

    sys.path.insert(0, str(Path(__file__).parent))
    from dispatch import ACCOUNT, RecordingTwilioGateway

    numbers = [f"+1555{9000000 + i:07d}" for i in range(senders)]
    client = build_twilio_client(account_sid=ACCOUNT, auth_token="bench")
    gateway = RecordingTwilioGateway(sends)
    client.http_client.session.mount("https://", gateway)
    channel = TwilioSmsChannel(
        client=client, senders=[SmsSender(number=s, type=SenderType.SHORT_CODE) for s in numbers]
    )

    def row(i: int) -> Claimed:
        return Claimed(
            id=i + 1,
            attempt=1,
            max_attempts=5,
            idempotency_key=f"bench:{i}",
            patient_id=f"bench-{i}",
            purpose="care-reminders",
            channel="sms",
            sender=numbers[i % senders],
            to_address=f"+1555{i:07d}",
            subject=None,
            body=BODY,
            html=None,
            language="en",
            extra={},
            enrollment_id=None,
            program=None,
            step=None,
            decision_id=None,
            recipient_kind="patient",
        )

    def share(offset: int) -> None:
        for i in range(start + offset, start + count, threads):
            channel.send(
                outbound_message(row(i), base_url="https://careloop.example", unsubscribe_url=None)
            )

    # Start together: the ceiling is what the processes do at once, not their imports.
    (sends / f"ready-{start}").touch()
    while not (sends / "go").exists():
        time.sleep(0.005)
    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(share, range(threads)))
    gateway.close()


def bare_ceiling(
    *, sends: Path, messages: int, senders: int, processes: int, threads: int
) -> dict[str, Any]:
    """Run the bare sends in ``processes`` processes; calls a second from the first call
    to the last (process start-up excluded, as in the dispatch figure)."""
    per = -(-messages // processes)
    children = [
        subprocess.Popen(
            [
                sys.executable,
                __file__,
                str(sends),
                str(p * per),
                str(max(0, min(per, messages - p * per))),
                str(senders),
                str(threads),
            ]
        )
        for p in range(processes)
    ]
    while len(list(sends.glob("ready-*"))) < processes:
        if any(child.poll() is not None for child in children):
            break
        time.sleep(0.01)
    (sends / "go").touch()
    for child in children:
        if child.wait() != 0:
            raise RuntimeError("a bare sending process failed")
    records = [
        orjson.loads(line)
        for path in sends.glob("sends-*.jsonl")
        for line in path.read_bytes().splitlines()
        if line.endswith(b"}")
    ]
    stamps = sorted(float(r["at"]) for r in records)
    made = [*sends.glob("sends-*.jsonl"), *sends.glob("lists-*.jsonl"), *sends.glob("ready-*")]
    for path in [*made, sends / "go"]:
        path.unlink(missing_ok=True)
    seconds = max(stamps[-1] - stamps[0], 1e-9) if stamps else float("inf")
    return {
        "bare_calls": len(stamps),
        "bare_keys": len({r["token"] for r in records}),
        "bare_processes": processes,
        "bare_threads": threads,
        "bare_msgs_per_s": round(len(stamps) / seconds, 1),
    }


if __name__ == "__main__":
    folder, first, n, senders_, threads_ = sys.argv[1:6]
    send_bare(
        sends=Path(folder),
        start=int(first),
        count=int(n),
        senders=int(senders_),
        threads=int(threads_),
    )
