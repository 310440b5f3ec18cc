"""Outbox dispatch under a crash: 2 worker processes on PostgreSQL, one killed with SIGKILL.

    .venv/bin/python benchmarks/dispatch.py --messages 10000 --senders 100 --rate 100

Creates a scratch PostgreSQL database (dropped afterwards; the shared server itself is never
restarted), queues ``--messages`` due SMS messages spread over ``--senders`` short codes
paced at ``--rate`` msg/s each (default 100 × 100/s: the carriers' cap, 10,000 msg/s, is
twice the goal, so the cap is not what the run measures; printed as ``cap_msgs_per_s``),
starts ``--workers`` (default 2) ``careloop`` workers as processes, SIGKILLs the first
after it alone has sent ``--kill-at`` of the messages and starts a replacement at once.

The workers use the real Twilio adapter (a text's request written from the ``twilio``
package's template, a look-up through the package: both on the client's ``requests``
session); the gateway is :class:`RecordingTwilioGateway`, mounted as that session's transport:
it appends **every** request it receives, in Twilio's wire format (method, path, the
``I-Twilio-Idempotency-Token`` header, the form-encoded body), to a per-process file and
answers as Twilio does. Like Twilio, it never deduplicates, retries or normalises: a key sent
twice is two texts. ``duplicated`` counts the calls per key beyond the first.

``--in-doubt`` picks what the restarted worker does with the message the kill left in doubt:
``reconcile`` (ask the gateway: ``GET Messages.json?To=&From=&DateSent>``), ``resend``
(the gateway is not asked: at most one duplicate per kill) or ``review`` (held, not sent).
Prints one JSON line ``{"sent", "lost", "held", "duplicated", "msgs_per_s", "cap_msgs_per_s",
"bare_msgs_per_s", "ratio"}`` (``held``: in doubt, held for staff review, never sent);
details to stderr.
``bare_msgs_per_s`` is the machine's ceiling measured right after the run
(:mod:`dispatch_bare`: the same Twilio request, client and recording gateway from as many
processes, ``--concurrency`` senders each, with no database) and ``ratio`` = ``msgs_per_s`` /
``bare_msgs_per_s``. ``--no-bare`` skips it; ``--bare-only`` measures only the ceiling.
``--stop-first S`` SIGSTOPs the first worker for S s before its SIGKILL (a slow worker keeps
its advisory lock: nobody may send for its senders meanwhile) and reports what it held and
``their_sends_by_others_while_stopped`` under ``stopped`` in the details.
``--list-latency-ms`` makes each list request (a look-up of a send in doubt) answer after
that long, as a real gateway's round trip does (the calls themselves stay instant).
"""

from __future__ import annotations

import argparse
import logging
import os
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote_plus, urlsplit

import orjson
import psycopg
from requests import PreparedRequest, Response
from requests.adapters import BaseAdapter

sys.path.insert(0, str(Path(__file__).parent))
from dispatch_bare import bare_ceiling  # a sibling script, not a package
from dispatch_supervised import Run, run_supervised, run_supervisor

ADMIN = os.environ.get("CARELOOP_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
ACCOUNT = "ACbench00000000000000000000000000"


class RecordingTwilioGateway(BaseAdapter):  # type: ignore[misc]
    """Twilio's Messages API at the HTTP boundary (a ``requests`` transport under the Twilio
    client): records every request as it arrived, corrects none."""

    def __init__(self, folder: Path, *, list_latency: float = 0.0) -> None:
        super().__init__()
        self.folder = folder
        self.list_latency = list_latency
        self.own = (folder / f"sends-{os.getpid()}.jsonl").open("ab", buffering=0)
        # List requests (look-ups of sends in doubt) recorded apart: the sends files stay
        # the calls the benchmark counts, and every look-up is still on record.
        self.lists = (folder / f"lists-{os.getpid()}.jsonl").open("ab", buffering=0)
        self.count = 0
        self.lock = threading.Lock()  # the worker's concurrent senders share this gateway
        self.seen: dict[Path, int] = {}
        """Bytes read so far per file: the list after a crash is asked once per message (or
        sender) in doubt, and re-reading every file each time made reconciling a group of
        50 cost seconds of the benchmark's own parsing."""
        self.listed: dict[tuple[str | None, str | None], list[dict[str, Any]]] = defaultdict(list)
        """Every record read so far, by (To, From), each form parsed once (a list is a filter
        on what was recorded: nothing is dropped or merged)."""

    def send(self, request: PreparedRequest, **kwargs: Any) -> Response:
        url = urlsplit(request.url or "")
        if request.method == "GET":
            arrived = time.monotonic()
            if self.list_latency:
                time.sleep(self.list_latency)  # a real gateway's round trip
            listed = self._list(dict(parse_qsl(url.query)))
            record = {
                "at": arrived,
                "answered_at": time.monotonic(),
                "method": request.method,
                "path": url.path,
                "query": url.query,
                "token": request.headers.get("I-Twilio-Idempotency-Token"),
                "found": len(listed["messages"]),
            }
            self.lists.write(orjson.dumps(record) + b"\n")  # one write a line: no interleaving
            return self._answer(request, 200, listed)
        body = request.body.decode() if isinstance(request.body, bytes) else str(request.body)
        with self.lock:
            self.count += 1
            sid = f"SM{os.getpid():08d}{self.count:024d}"
            self._record(request, url.path, body, sid)
        # Only the three fields the answer echoes are decoded (``parse_qsl`` decoded every
        # name and value: a quarter of the gateway's own CPU a send).
        form = dict(pair.partition("=")[::2] for pair in body.split("&"))
        to, from_, text = (form.get(name) for name in ("To", "From", "Body"))
        answer = {"sid": sid, "status": "queued", "to": to and unquote_plus(to)}
        answer |= {"from": from_ and unquote_plus(from_), "body": text and unquote_plus(text)}
        return self._answer(request, 201, answer)

    def _record(self, request: PreparedRequest, path: str, body: str, sid: str) -> None:
        record = {
            "at": time.monotonic(),
            "method": request.method,
            "path": path,
            "token": request.headers.get("I-Twilio-Idempotency-Token"),
            "content_type": request.headers.get("Content-Type"),
            "body": body,
            "sid": sid,
        }
        self.own.write(orjson.dumps(record) + b"\n")

    def _read_new(self) -> None:
        with self.lock:
            for path in self.folder.glob("sends-*.jsonl"):
                offset = self.seen.get(path, 0)
                with path.open("rb") as handle:
                    handle.seek(offset)
                    chunk = handle.read()
                complete = chunk[: chunk.rfind(b"\n") + 1]  # a line being written waits
                for line in complete.splitlines():
                    if not line.endswith(b"}"):
                        continue
                    record = orjson.loads(line)
                    form = dict(parse_qsl(record["body"]))
                    entry = {"sid": record["sid"], "status": "sent", "body": form.get("Body")}
                    self.listed[(form.get("To"), form.get("From"))].append(entry)
                self.seen[path] = offset + len(complete)

    def _list(self, query: dict[str, str]) -> dict[str, Any]:
        self._read_new()
        found = list(self.listed.get((query.get("To"), query.get("From")), []))
        return {"messages": found, "next_page_uri": None, "page": 0, "page_size": 100}

    @staticmethod
    def _answer(request: PreparedRequest, status: int, payload: dict[str, Any]) -> Response:
        response = Response()
        response.status_code = status
        response._content = orjson.dumps(payload)
        # As Twilio answers (and as ``requests`` reads a real response's header): without
        # the charset, ``response.text`` guesses the encoding, ~0.2 ms a send.
        response.headers["Content-Type"] = "application/json; charset=utf-8"
        response.encoding = "utf-8"
        response.request = request
        response.url = request.url
        return response

    def close(self) -> None:
        self.own.close()
        self.lists.close()


def read_records(folder: Path) -> list[dict[str, Any]]:
    return [
        orjson.loads(line)
        for path in folder.glob("sends-*.jsonl")
        for line in path.read_bytes().splitlines()
        if line.endswith(b"}")  # a SIGKILL can cut the last line short
    ]


class Unaskable:
    """The same adapter without ``find_sent``: a gateway that cannot be reconciled."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.kind = inner.kind

    def rate_limit(self, sender: str | None) -> Any:
        return self.inner.rate_limit(sender)

    def send(self, message: Any) -> Any:
        return self.inner.send(message)


def run_worker(args: argparse.Namespace) -> None:
    """One worker process: send until nothing is left to send (or pending forever)."""
    from careloop.collector import finish_process, paused, settle_batch_process

    # As ``careloop worker`` starts: no collector pass over start-up's objects (settled below).
    with paused():
        from careloop.runtime import open_runtime

        rt = open_runtime(database=args.database, run_migrations=False)
        worker = build_bench_worker(args, rt, worker_id=args.id)
    events = _watch_takeover()
    # As ``careloop worker`` does once it is set up: its code out of the collector's passes.
    settle_batch_process()
    phases: dict[str, Any] = {
        "pid": os.getpid(),
        "ready": time.monotonic(),
        "startup_cpu_s": _cpu_seconds(),
    }
    drain(rt, worker)
    rt.close()
    phases |= {"done": time.monotonic(), "cpu_s": _cpu_seconds(), "events": events}
    (Path(args.sends) / f"phases-{os.getpid()}.json").write_bytes(orjson.dumps(phases))
    finish_process()


def build_bench_worker(args: argparse.Namespace, rt: Any, *, worker_id: str) -> Any:
    """The benchmark's worker: the real Twilio adapter on the recording gateway (its files
    named by this process's pid), the run's pace and worker settings."""
    from careloop.channels.messages import ChannelKind
    from careloop.channels.registry import ChannelRegistry
    from careloop.channels.settings import SenderType, SmsSender
    from careloop.channels.sms_twilio import TwilioSmsChannel
    from careloop.channels.twilio_http import build_twilio_client
    from careloop.compose.worker import build_worker
    from careloop.outreach.config import OutreachSettings, WorkerSettings

    senders = [f"+1555{9000000 + i:07d}" for i in range(args.senders)]
    client = build_twilio_client(account_sid=ACCOUNT, auth_token="bench")
    gateway = RecordingTwilioGateway(Path(args.sends), list_latency=args.list_latency_ms / 1000)
    client.http_client.session.mount("https://", gateway)
    channel: Any = TwilioSmsChannel(
        client=client,
        senders=[SmsSender(number=s, type=SenderType.SHORT_CODE) for s in senders],
    )
    if args.in_doubt != "reconcile":
        channel = Unaskable(channel)
    worker = build_worker(
        rt, worker_id=worker_id, channels=ChannelRegistry({ChannelKind.SMS: channel})
    )
    worker.settings = OutreachSettings(
        sender_rates={f"sms:{s}": args.rate for s in senders},
        worker=WorkerSettings(
            batch=args.batch,
            lease_seconds=args.lease,
            poll_seconds=0.1,
            resend_in_doubt=args.in_doubt == "resend",
            record_every=args.record_every,
            concurrency=args.concurrency,
            **({"results_per_commit": args.results_per_commit} if args.results_per_commit else {}),
            **({"pace_margin": args.pace_margin} if args.pace_margin is not None else {}),
            **(
                {"late_tolerance_ms": args.late_tolerance_ms}
                if args.late_tolerance_ms is not None
                else {}
            ),
        ),
    )
    return worker


def drain(rt: Any, worker: Any, stop: Any = lambda: False) -> None:
    """Send until nothing is pending (or ``stop()``), then leave."""
    from sqlalchemy import func, select

    from careloop.models import OutboxMessage
    from careloop.outreach.states import PENDING_STATES

    while not stop():
        report = worker.run_once()
        if report.claimed:
            continue
        with rt.transaction() as session:
            pending = session.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .where(OutboxMessage.state.in_([str(s) for s in PENDING_STATES]))
            )
        if not pending:
            break
        time.sleep(0.1)
    worker.leave()


TAKEOVER_LOGS = ("careloop.outreach.worker_presence", "careloop.outreach.group_send")
"""The worker's own lines about a dead worker: seen dead, adopted, its sends in doubt settled."""


def _watch_takeover() -> list[tuple[float, str]]:
    """When (monotonic, shared by the processes) this worker logged a takeover step."""
    events: list[tuple[float, str]] = []

    class Stamp(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            events.append((time.monotonic(), record.getMessage()))

    for name in TAKEOVER_LOGS:
        logger = logging.getLogger(name)
        logger.setLevel(logging.INFO)
        logger.addHandler(Stamp())
    return events


def _kill_timeline(
    sends: Path, *, first_pid: int, killed: float, half_lease: float
) -> dict[str, Any]:
    """s after the kill: a survivor or the replacement first sees the killed worker dead,
    first adopts its work, first settles sends in doubt; the first call by another process for
    a sender it was sending for (its senders: those it called in its last half lease); the
    last call of the run."""
    events = [
        (float(at), str(message))
        for path in sends.glob("phases-*.json")
        for at, message in orjson.loads(path.read_bytes()).get("events", [])
        if float(at) >= killed
    ]
    calls: dict[str, list[tuple[float, str]]] = {}
    for path in sends.glob("sends-*.jsonl"):
        calls[path.stem.removeprefix("sends-")] = [
            (float(record["at"]), dict(parse_qsl(record["body"]))["From"])
            for record in (
                orjson.loads(line)
                for line in path.read_bytes().splitlines()
                if line.endswith(b"}")  # a SIGKILL can cut the last line short
            )
        ]
    theirs = calls.get(str(first_pid), [])
    last_own = max((at for at, _ in theirs), default=killed)
    held = {sender for at, sender in theirs if at >= last_own - half_lease}
    resumed = [
        at
        for pid, made in calls.items()
        if pid != str(first_pid)
        for at, sender in made
        if at > killed and sender in held
    ]

    def first(word: str) -> float | None:
        found = [at for at, message in events if word in message]
        return round(min(found) - killed, 2) if found else None

    settled = [at for at, message in events if "in doubt settled" in message]
    return {
        "seen_dead_s": first("seen dead"),
        "adopted_s": first("adopting"),
        "in_doubt_settled_s": round(min(settled) - killed, 2) if settled else None,
        "its_senders": len(held),
        "its_senders_resumed_s": round(min(resumed) - killed, 2) if resumed else None,
        "last_call_s": round(max(at for made in calls.values() for at, _ in made) - killed, 2),
    }


def _reclaimed(url: str, *, killed: datetime, worker: str = "w1") -> dict[str, Any]:
    """s after the kill (the database's clock): the killed worker's open attempts closed by
    the claim that took its rows (adopted, or its lease run out), first and last."""
    with psycopg.connect(url) as conn:
        first, last, rows = conn.execute(
            "SELECT min(finished_at), max(finished_at), count(*) FROM outreach_attempts "
            "WHERE worker = %s AND error IN ('worker-lost', 'lease-expired') "
            "AND finished_at >= %s",
            (worker, killed),
        ).fetchone() or (None, None, 0)
    return {
        "its_rows_reclaimed": rows,
        "its_rows_reclaimed_s": round((first - killed).total_seconds(), 2) if first else None,
        "its_rows_last_reclaimed_s": round((last - killed).total_seconds(), 2) if last else None,
    }


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return round(usage.ru_utime + usage.ru_stime, 3)


def _seed(url: str, *, messages: int, senders: int, patients: int) -> None:
    from sqlalchemy import insert

    from careloop.models import Patient, PreferenceProfileRow
    from careloop.outreach.outbox import NewMessage, enqueue_many
    from careloop.runtime import open_runtime

    rt = open_runtime(database=url)
    now = datetime.now(UTC)
    with rt.transaction() as session:
        session.execute(
            insert(Patient),
            [
                {
                    "id": f"bench-{i}",
                    "timezone": "America/New_York",
                    "timezone_source": "bench",
                    "deceased": False,
                    "contact_points": [{"system": "phone", "value": f"+1555{i:07d}"}],
                    "created_at": now,
                    "updated_at": now,
                }
                for i in range(patients)
            ],
        )
        # No quiet hours: the worker holds a message due inside them until they end, and
        # the benchmark runs at any hour (what it measures is dispatch, not the night).
        session.execute(
            insert(PreferenceProfileRow),
            [
                {
                    "patient_id": f"bench-{i}",
                    "stated": {"quiet_hours": "00-00"},
                    "learned": {},
                    "updated_at": now,
                    "updated_by": "benchmark",
                }
                for i in range(patients)
            ],
        )
    numbers = [f"+1555{9000000 + i:07d}" for i in range(senders)]
    for start in range(0, messages, 2000):
        with rt.transaction() as session:
            enqueue_many(
                session,
                messages=[
                    NewMessage(
                        idempotency_key=f"bench:{i}",
                        patient_id=f"bench-{i % patients}",
                        purpose="care-reminders",
                        channel="sms",
                        to_address=f"+1555{i % patients:07d}",
                        sender=numbers[i % senders],
                        body="Your screening mammogram is due. Book at https://rvcl.org/book.",
                        due_at=now - timedelta(seconds=1),
                    )
                    for i in range(start, min(start + 2000, messages))
                ],
                now=now,
            )
    rt.close()


def _spawn(args: argparse.Namespace, url: str, sends: Path, name: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(_command(args, "worker", url, sends, "--id", name))


def _command(args: argparse.Namespace, mode: str, url: str, sends: Path, *more: str) -> list[str]:
    """This script in ``mode`` (``worker``, ``supervisor``) with the run's worker options."""
    return [
        sys.executable,
        __file__,
        mode,
        "--database",
        url,
        "--sends",
        str(sends),
        *more,
        "--senders",
        str(args.senders),
        "--rate",
        str(args.rate),
        "--batch",
        str(args.batch),
        "--lease",
        str(args.lease),
        "--in-doubt",
        args.in_doubt,
        "--record-every",
        str(args.record_every),
        "--concurrency",
        str(args.concurrency),
        *(
            ["--results-per-commit", str(args.results_per_commit)]
            if args.results_per_commit
            else []
        ),
        *(["--pace-margin", str(args.pace_margin)] if args.pace_margin is not None else []),
        *(["--list-latency-ms", str(args.list_latency_ms)] if args.list_latency_ms else []),
        *(
            ["--late-tolerance-ms", str(args.late_tolerance_ms)]
            if args.late_tolerance_ms is not None
            else []
        ),
    ]


def _wait_for_sends(path: Path, *, at_least: int, every: int, timeout: float) -> None:
    """Until the first worker alone has made ``at_least`` calls, or every message has been
    called by someone (the others drained the queue before it reached its share: waiting on
    would time the timeout, not the dispatch; the kill then finds it idle)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines = path.read_bytes().count(b"\n") if path.exists() else 0
        if lines >= at_least:
            return
        calls = sum(f.read_bytes().count(b"\n") for f in path.parent.glob("sends-*.jsonl"))
        if calls >= every:
            return
        time.sleep(0.05)


def _stop_first(first: subprocess.Popen[bytes], url: str, *, seconds: float) -> dict[str, Any]:
    """SIGSTOP the first worker while it holds senders (a worker that is merely slow: its
    connections and its advisory lock stay) for ``seconds``; what it held, and whether any
    other worker took its rows meanwhile (none may before its leases end)."""
    held: list[str] = []
    for _ in range(200):
        os.kill(first.pid, signal.SIGSTOP)
        with psycopg.connect(url) as conn:
            held = [
                row[0].removeprefix("sms:")
                for row in conn.execute(
                    "SELECT sender_key FROM outreach_sender_slots "
                    "WHERE leased_by = 'w1' AND lease_until > now()"
                ).fetchall()
            ]
            rows = conn.execute(
                "SELECT count(*) FROM outreach_outbox WHERE claimed_by = 'w1' AND state = 'sending'"
            ).fetchone()
        if held:
            break
        os.kill(first.pid, signal.SIGCONT)  # between batches: let it lease again
        time.sleep(0.02)
    since = time.monotonic()
    time.sleep(seconds)
    with psycopg.connect(url) as conn:
        kept = conn.execute(
            "SELECT count(*) FROM outreach_outbox WHERE claimed_by = 'w1' AND state = 'sending'"
        ).fetchone()
    return {
        "seconds": seconds,
        "senders_held": held,
        "rows_held": rows[0] if rows else 0,
        "rows_still_its_own_after": kept[0] if kept else 0,
        "from": since,
        "until": time.monotonic(),
    }


def _sends_while_stopped(sends: Path, stop: dict[str, Any], *, first_pid: int) -> int:
    """Calls by other processes, during the stop, for a sender the stopped worker held."""
    held = set(stop["senders_held"])
    count = 0
    for path in sends.glob("sends-*.jsonl"):
        if path.stem == f"sends-{first_pid}":
            continue
        for line in path.read_bytes().splitlines():
            if not line.endswith(b"}"):
                continue
            record = orjson.loads(line)
            at = float(record["at"])
            if (
                stop["from"] <= at <= stop["until"]
                and dict(parse_qsl(record["body"]))["From"] in held
            ):
                count += 1
    return count


def _timeline(sends: Path, first_send: float, *, killed: float) -> dict[str, Any]:
    """Where the run's time went: the sending rate of all workers before the kill (the
    steady state) and, per worker process, its first and last call after the first send."""
    stamps: dict[str, list[float]] = {}
    for path in sorted(sends.glob("sends-*.jsonl")):
        stamps[path.stem.removeprefix("sends-")] = sorted(
            float(orjson.loads(line)["at"])
            for line in path.read_bytes().splitlines()
            if line.endswith(b"}")
        )
    before = sum(1 for times in stamps.values() for at in times if at <= killed)
    return {
        "msgs_per_s_before_kill": round(before / max(killed - first_send, 1e-9), 1),
        "per_process": {
            pid: {
                "calls": len(times),
                "first_s": round(times[0] - first_send, 2),
                "last_s": round(times[-1] - first_send, 2),
            }
            for pid, times in stamps.items()
            if times
        },
    }


def _wait_all(processes: list[subprocess.Popen[bytes]]) -> dict[int, float]:
    """Wait for every process; when each exited (monotonic, to 10 ms)."""
    exited: dict[int, float] = {}
    while len(exited) < len(processes):
        for process in processes:
            if process.pid not in exited and process.poll() is not None:
                exited[process.pid] = time.monotonic()
        time.sleep(0.01)
    return exited


def _phases(
    sends: Path, spawned: dict[int, float], exited: dict[int, float], first_send: float
) -> dict[str, dict[str, float]]:
    """Per worker process, s after the first gateway call: spawned, set up (``ready``: its
    imports, runtime and adapter; ``startup_cpu_s`` the CPU that took), out of its loop
    (``done``) and gone (``exited``; the killed one has no ``done``)."""
    out: dict[str, dict[str, float]] = {}
    for pid, at in spawned.items():
        path = sends / f"phases-{pid}.json"
        phases = orjson.loads(path.read_bytes()) if path.exists() else {}
        row = {"spawned_s": round(at - first_send, 2)}
        for name in ("ready", "done"):
            if name in phases:
                row[f"{name}_s"] = round(phases[name] - first_send, 2)
        if pid in exited:
            row["exited_s"] = round(exited[pid] - first_send, 2)
        for name in ("startup_cpu_s", "cpu_s"):
            if name in phases:
                row[name] = phases[name]
        out[str(pid)] = row
    return out


def _wall(
    processes: dict[str, dict[str, float]],
    *,
    first_pid: int,
    replacement_pid: int,
    killed_s: float,
    last_call_s: float,
) -> dict[str, Any]:
    """Where the timed window (first call to last exit, s after the first call) went: the
    initial workers' start-up still under way (``all_ready_s``), the kill, the last call,
    the survivors' and the replacement's exits, and which of them ended the run."""
    survivors = [
        row for pid, row in processes.items() if pid not in {str(first_pid), str(replacement_pid)}
    ]
    replacement = processes.get(str(replacement_pid), {})
    survivors_exited = max((row.get("exited_s", 0.0) for row in survivors), default=0.0)
    replacement_exited = replacement.get("exited_s", 0.0)
    return {
        "all_ready_s": max((row.get("ready_s", 0.0) for row in survivors), default=0.0),
        "killed_s": round(killed_s, 2),
        "last_call_s": round(last_call_s, 2),
        "survivors_exited_s": survivors_exited,
        "replacement_ready_s": replacement.get("ready_s"),
        "replacement_exited_s": replacement_exited,
        "ended_by": "replacement" if replacement_exited > survivors_exited else "survivors",
    }


def _rate_check(sends: Path, rate: float) -> dict[str, Any]:
    times: dict[str, list[float]] = defaultdict(list)
    for record in read_records(sends):
        times[dict(parse_qsl(record["body"]))["From"]].append(float(record["at"]))
    worst_1s = 0
    for stamps in times.values():
        stamps.sort()
        j = 0
        for i, start in enumerate(stamps):
            while j < len(stamps) and stamps[j] < start + 1.0:
                j += 1
            worst_1s = max(worst_1s, j - i)
    return {"senders": len(times), "rate_limit": rate, "max_sends_in_any_1s_per_sender": worst_1s}


def _slot_check(url: str, rate: float) -> float:
    """Smallest gap between reserved slots of one sender (>= 1/rate, with the pace margin)."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT o.sender, a.slot_at FROM outreach_attempts a JOIN outreach_outbox o "
            "ON o.id = a.message_id WHERE a.slot_at IS NOT NULL ORDER BY o.sender, a.slot_at"
        ).fetchall()
    smallest = float("inf")
    for (s1, t1), (s2, t2) in pairwise(rows):
        if s1 == s2:
            smallest = min(smallest, (t2 - t1).total_seconds())
    return smallest


def _bare(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    """The same sending path with no database, as many processes and senders each."""
    return bare_ceiling(
        sends=folder,
        messages=args.messages,
        senders=args.senders,
        processes=max(args.workers, 1),
        threads=max(args.concurrency, 1),
    )


def _run_processes(args: argparse.Namespace, url: str, sends: Path) -> Run:
    """The workers as separate processes, each started from scratch; the first killed and a
    fresh process started in its place."""
    started = time.monotonic()
    first = _spawn(args, url, sends, "w1")
    others = [_spawn(args, url, sends, f"w{i}") for i in range(2, max(args.workers, 1) + 1)]
    spawned = {p.pid: started for p in (first, *others)}
    # Kill the first worker once IT has sent its share (mid-batch, leases held).
    _wait_for_sends(
        sends / f"sends-{first.pid}.jsonl",
        at_least=int(args.messages * args.kill_at),
        every=args.messages,
        timeout=120,
    )
    stop = _stop_first(first, url, seconds=args.stop_first) if args.stop_first else None
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    killed_at_mono = time.monotonic()
    killed_wall = datetime.now(UTC)
    replacement = _spawn(args, url, sends, "w1-restarted")
    spawned[replacement.pid] = time.monotonic()
    exited = _wait_all([*others, replacement])
    return Run(
        started=started,
        first_pid=first.pid,
        killed_worker="w1",
        killed_at_mono=killed_at_mono,
        killed_wall=killed_wall,
        replacement_pid=replacement.pid,
        spawned=spawned,
        exited=exited,
        stopped=stop,
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="mode")
    worker = sub.add_parser("worker")
    supervisor = sub.add_parser("supervisor")
    for p in (parser, worker, supervisor):
        p.add_argument(
            "--senders",
            type=int,
            default=100,
            help="Short codes (the carriers' cap is senders x rate; 20 made it 2,000 msg/s).",
        )
        p.add_argument("--rate", type=float, default=100.0)
        p.add_argument("--batch", type=int, default=500)
        p.add_argument("--lease", type=float, default=3.0)
        p.add_argument("--record-every", type=int, default=1)
        p.add_argument(
            "--concurrency", type=int, default=1, help="Sends in flight at once per worker."
        )
        p.add_argument(
            "--results-per-commit",
            type=int,
            default=0,
            help="Results per commit when the gateway can be asked (0: the worker's default).",
        )
        p.add_argument("--in-doubt", choices=["reconcile", "resend", "review"], default="reconcile")
        p.add_argument(
            "--pace-margin",
            type=float,
            default=None,
            help="worker.pace_margin (default: the setting's); with --late-tolerance-ms.",
        )
        p.add_argument("--late-tolerance-ms", type=float, default=None)
        p.add_argument(
            "--list-latency-ms",
            type=float,
            default=0.0,
            help="Each gateway list request answers after this long (a real round trip).",
        )
    for p in (worker, supervisor):
        p.add_argument("--database", required=True)
        p.add_argument("--sends", required=True)
    worker.add_argument("--id", required=True)
    supervisor.add_argument("--processes", type=int, required=True)
    parser.add_argument(
        "--supervisor",
        action="store_true",
        help="Run the workers as `careloop worker --processes N` does: one process set up "
        "once forks them; the kill is of one child and the supervisor's re-fork replaces it.",
    )
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument(
        "--workers",
        type=int,
        default=2,
        help="Worker processes at once (the first is SIGKILLed and replaced).",
    )
    parser.add_argument(
        "--patients",
        type=int,
        default=None,
        help="Patients the messages go to (default: one message each, so the per-patient "
        "contact budget, enforced by the worker, holds none back).",
    )
    parser.add_argument(
        "--kill-at",
        type=float,
        default=0.15,
        help="Kill the first worker once it alone has sent this share of the messages.",
    )
    parser.add_argument(
        "--stop-first",
        type=float,
        default=0.0,
        help="SIGSTOP the first worker this many seconds before its SIGKILL (a slow worker: "
        "nobody may take its senders before its leases end); reported under 'stopped'.",
    )
    parser.add_argument("--keep", action="store_true", help="Keep the scratch database.")
    parser.add_argument(
        "--prefix", default="careloop_bench_dispatch", help="Scratch database name prefix."
    )
    parser.add_argument("--no-bare", action="store_true", help="Skip the bare ceiling.")
    parser.add_argument(
        "--bare-only", action="store_true", help="Only the bare ceiling (no database)."
    )
    args = parser.parse_args()
    if args.mode == "worker":
        run_worker(args)
        return
    if args.mode == "supervisor":
        run_supervisor(
            args,
            build=build_bench_worker,
            drain=drain,
            watch=_watch_takeover,
            cpu_seconds=_cpu_seconds,
        )
        return
    if args.supervisor and args.stop_first:
        parser.error("--stop-first is not measured with --supervisor")
    if args.bare_only:
        with tempfile.TemporaryDirectory(prefix="careloop_bench_bare_") as folder:
            sys.stdout.write(orjson.dumps(_bare(args, Path(folder))).decode() + "\n")
        return

    name = f"{args.prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = f"{ADMIN.rsplit('/', 1)[0]}/{name}"
    sends = Path(f"/tmp/{name}")
    sends.mkdir()
    try:
        patients = args.patients or args.messages
        _seed(url, messages=args.messages, senders=args.senders, patients=patients)
        run = (
            run_supervised(args, url, sends, command=_command)
            if args.supervisor
            else _run_processes(args, url, sends)
        )
        started, stop, killed_at_mono = run.started, run.stopped, run.killed_at_mono
        spawned, exited, first_pid = run.spawned, run.exited, run.first_pid
        killed_at = killed_at_mono - started
        finished = time.monotonic()
        elapsed = finished - started
        records = read_records(sends)
        if stop is not None:
            stop["their_sends_by_others_while_stopped"] = _sends_while_stopped(
                sends, stop, first_pid=first_pid
            )
        first_send = min(float(r["at"]) for r in records)
        timeline = _timeline(sends, first_send, killed=killed_at_mono)
        processes = _phases(sends, spawned, exited, first_send)
        keys: Counter[str] = Counter(str(r["token"]) for r in records)
        with psycopg.connect(url) as conn:
            states = dict(
                conn.execute(
                    "SELECT state, count(*) FROM outreach_outbox GROUP BY state"
                ).fetchall()
            )
            unsent = {
                row[0]
                for row in conn.execute(
                    "SELECT idempotency_key FROM outreach_outbox "
                    "WHERE state NOT IN ('sent', 'in-doubt')"
                ).fetchall()
            }
            held = {
                row[0]
                for row in conn.execute(
                    "SELECT idempotency_key FROM outreach_outbox WHERE state = 'in-doubt'"
                ).fetchall()
            }
            attempts = dict(
                conn.execute(
                    "SELECT outcome, count(*) FROM outreach_attempts GROUP BY outcome"
                ).fetchall()
            )
        expected = {f"bench:{i}" for i in range(args.messages)}
        sent = len(set(keys) & expected)
        result = {
            "sent": sent,
            # Held for staff review (``--in-doubt review``) and never reached the gateway: not
            # lost (a person decides), not sent; counted apart.
            "lost": len(((expected - set(keys)) - held) | unsent),
            "held": len(held - set(keys)),
            "duplicated": sum(n - 1 for n in keys.values() if n > 1),
            # From the first provider call to the last worker done (process start-up, ~2-3 s
            # of imports on the loaded machine, is not outbox throughput).
            "msgs_per_s": round(args.messages / (finished - first_send), 1),
            # The carriers' cap: no run can beat it, whatever the workers do.
            "cap_msgs_per_s": round(args.senders * args.rate, 1),
        }
        details = {
            "elapsed_s": round(elapsed, 2),
            "msgs_per_s_including_process_start": round(args.messages / elapsed, 1),
            "killed_at_s": round(killed_at, 2),
            "after_kill_s": round(finished - killed_at_mono, 2),
            "last_call_after_kill_s": round(
                max(float(r["at"]) for r in records) - killed_at_mono, 2
            ),
            # Delivery alone: first to last provider call (the replacement's start-up and the
            # processes' exit after the last send are not in it).
            "msgs_per_s_to_last_call": round(
                args.messages / max(max(float(r["at"]) for r in records) - first_send, 1e-9), 1
            ),
            "processes": processes,
            "wall": _wall(
                processes,
                first_pid=first_pid,
                replacement_pid=run.replacement_pid,
                killed_s=killed_at_mono - first_send,
                last_call_s=max(float(r["at"]) for r in records) - first_send,
            ),
            "kill_timeline": _kill_timeline(
                sends, first_pid=first_pid, killed=killed_at_mono, half_lease=args.lease / 2
            )
            | _reclaimed(url, killed=run.killed_wall, worker=run.killed_worker),
            **({"stopped": stop} if stop is not None else {}),
            "shape": "supervisor" if args.supervisor else "processes",
            **(
                {"supervisor": orjson.loads((sends / "supervisor.json").read_bytes())}
                if args.supervisor
                else {}
            ),
            "outbox_states": states,
            "in_doubt": args.in_doubt,
            "workers": args.workers,
            "record_every": args.record_every,
            "results_per_commit": args.results_per_commit or "default",
            "concurrency": args.concurrency,
            "attempts": attempts,
            "gateway_calls": len(records),
            **timeline,
            "min_slot_gap_s": round(_slot_check(url, args.rate), 6),
            **_rate_check(sends, args.rate),
        }
        if not args.no_bare:
            for path in sends.glob("*"):
                path.unlink()
            bare = _bare(args, sends)
            result["bare_msgs_per_s"] = bare.pop("bare_msgs_per_s")
            result["ratio"] = round(result["msgs_per_s"] / max(result["bare_msgs_per_s"], 1e-9), 4)
            details.update(bare)
        sys.stderr.write(orjson.dumps(details).decode() + "\n")
        sys.stdout.write(orjson.dumps(result).decode() + "\n")
    finally:
        if not args.keep:
            with psycopg.connect(ADMIN, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        for path in sends.glob("*"):
            path.unlink()
        sends.rmdir()


if __name__ == "__main__":
    main()
