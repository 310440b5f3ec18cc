"""Feedback loop latency: readings and check-ins in, alerts visible on the worklist.

    .venv/bin/python benchmarks/feedback_latency.py --rate 200 --duration 30

On a fresh PostgreSQL database (created on 127.0.0.1:5432 and dropped afterwards unless
``--database`` is given): imports ``--patients`` patients, starts ``careloop serve``'s app
under uvicorn and ``careloop ingest-mqtt`` as subprocesses, then sends a sustained
``--rate`` events/s for ``--duration`` seconds, split between the HTTP API (FHIR
Observations and symptom-diary QuestionnaireResponses, pre-built, over 64 keep-alive
connections: ``keepalive_client.py``) and MQTT (Observations, paho,
the Mosquitto broker on 127.0.0.1:1883).

About ``--alert-share`` of the events are built to trip a rule (blood pressure 190/100,
glucose 45 mg/dL, nausea grade 4), each on its own (patient, rule) pair, so every expected
alert must appear exactly once. Latency is measured from the moment an event is handed to
the client library (≈ receipt) to the moment its alert row is committed and visible to a
worklist query (a poller reads the worklist table every 25 ms; the poll period bounds the
resolution). Prints one JSON line: p50/p95/p99 (seconds), sent, received, alerts_expected,
alerts_raised, plus the HTTP acknowledgement latencies and the CPU the API processes
(``--api-workers``) and the ingest spent per event they took (/proc, so a figure of the
code rather than of the machine's load).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.enums import CallbackAPIVersion

sys.path.insert(0, str(Path(__file__).parent))
from keepalive_client import Prepared, request_bytes, send_prepared

from careloop.clock import SystemClock
from careloop.feedback.devices import register_device
from careloop.records.importer import import_paths
from careloop.runtime import open_runtime
from careloop.security.auth import create_user, issue_token
from careloop.security.principal import CLI_OPERATOR

ADMIN = os.environ.get("CARELOOP_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
LOINC = "http://loinc.org"
DIARY = "https://careloop.dev/fhir/Questionnaire/oncology-symptom-diary"
DIARY_ITEMS = (
    "nausea",
    "vomiting",
    "pain",
    "fatigue",
    "diarrhea",
    "constipation",
    "shortness-of-breath",
    "fever-chills",
    "mouth-sores",
    "appetite-loss",
    "numbness-tingling",
    "rash",
)
COUNT_RECEIVED = (
    "SELECT count(*) FROM events WHERE kind IN ('reading_received', 'checkin_submitted') "
    "AND recorded_at >= %s"
)
COUNT_REJECTED = (
    "SELECT count(*) FROM events WHERE kind IN ('reading_rejected', 'checkin_rejected') "
    "AND recorded_at >= %s"
)
RULE_OF = {
    "bp": "bp-crisis",
    "glucose": "glucose-level-2-hypoglycemia",
    "diary": "symptom-grade-4",  # the most severe rule claims the symptom (one card)
}


def _q(value: float, unit: str) -> dict[str, Any]:
    return {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit}


def blood_pressure(patient: str, sbp: float, dbp: float) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": f"b-{uuid.uuid4().hex}",
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": "85354-9"}]},
        "subject": {"reference": f"Patient/{patient}"},
        "effectiveDateTime": datetime.now(UTC).isoformat(),
        "component": [
            {
                "code": {"coding": [{"system": LOINC, "code": "8480-6"}]},
                "valueQuantity": _q(sbp, "mm[Hg]"),
            },
            {
                "code": {"coding": [{"system": LOINC, "code": "8462-4"}]},
                "valueQuantity": _q(dbp, "mm[Hg]"),
            },
        ],
    }


def glucose(patient: str, value: float) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": f"g-{uuid.uuid4().hex}",
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": "41653-7"}]},
        "subject": {"reference": f"Patient/{patient}"},
        "effectiveDateTime": datetime.now(UTC).isoformat(),
        "valueQuantity": _q(value, "mg/dL"),
    }


def diary(patient: str, nausea: int) -> dict[str, Any]:
    grades = dict.fromkeys(DIARY_ITEMS, 0) | {"nausea": nausea}
    return {
        "resourceType": "QuestionnaireResponse",
        "id": f"q-{uuid.uuid4().hex}",
        "questionnaire": DIARY,
        "status": "completed",
        "subject": {"reference": f"Patient/{patient}"},
        "authored": datetime.now(UTC).isoformat(),
        "item": [{"linkId": k, "answer": [{"valueInteger": v}]} for k, v in grades.items()],
    }


def plan_events(args: argparse.Namespace, patients: list[str]) -> list[dict[str, Any]]:
    """The schedule: (offset, channel, kind, patient, alerting) for every event."""
    rng = random.Random(7)
    total = int(args.rate * args.duration)
    pairs = [(p, k) for p in patients for k in ("bp", "glucose", "diary")]
    rng.shuffle(pairs)
    events = []
    for i in range(total):
        channel = "mqtt" if rng.random() < args.mqtt_share else "api"
        alerting = rng.random() < args.alert_share and bool(pairs)
        if alerting:
            kinds = [j for j, (_, k) in enumerate(pairs) if channel == "api" or k != "diary"]
            if not kinds:
                alerting = False
            else:
                patient, kind = pairs.pop(kinds[0])
        if not alerting:
            patient = rng.choice(patients)
            kind = rng.choice(["bp", "glucose"] + (["diary"] if channel == "api" else []))
        events.append(
            {
                "at": i / args.rate,
                "channel": channel,
                "kind": kind,
                "patient": patient,
                "alerting": alerting,
            }
        )
    return events


def payload(event: dict[str, Any]) -> dict[str, Any]:
    p, alerting = event["patient"], event["alerting"]
    if event["kind"] == "bp":
        return blood_pressure(p, 190 if alerting else 124, 100 if alerting else 78)
    if event["kind"] == "glucose":
        return glucose(p, 45 if alerting else 112)
    return diary(p, 4 if alerting else 1)


def setup(url: str, patients: int, tmp: Path, tokens: int = 32) -> tuple[list[str], list[str]]:
    rt = open_runtime(database=url, clock=SystemClock())
    ids = [f"bench-{i:05d}" for i in range(patients)]
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {
                "resource": {
                    "resourceType": "Patient",
                    "id": pid,
                    "gender": "female",
                    "birthDate": "1960-01-01",
                }
            }
            for pid in ids
        ],
    }
    path = tmp / "bench-patients.json"
    path.write_bytes(orjson.dumps(bundle))
    import_paths(
        rt.sessions,
        engine=rt.engine,
        paths=[path],
        clock=rt.clock,
        principal=CLI_OPERATOR,
        default_timezone="America/New_York",
        workers=0,
    )
    # One registered device per patient: the ingest hears only registered devices.
    with rt.transaction() as session:
        for pid in ids:
            register_device(
                session, device_id=f"dev-{pid}", patient=pid, clock=rt.clock, principal=CLI_OPERATOR
            )
    # One token per simulated gateway/nurse: a token's row is updated on each use, so a
    # single shared token would serialize every request on that row.
    issued = []
    with rt.transaction() as session:
        for _ in range(tokens):
            user = create_user(
                session,
                clock=rt.clock,
                username=f"bench-{uuid.uuid4().hex[:8]}",
                password="correct horse battery staple",
                role="clinician",
            )
            issued.append(issue_token(session, clock=rt.clock, user=user).token)
    rt.close()
    return ids, issued


@contextmanager
def temporary_database(prefix: str = "careloop_bench") -> Iterator[str]:
    """The URL of a new empty PostgreSQL database named ``<prefix>_<random>``, dropped after."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{ADMIN.rsplit('/', 1)[0]}/{name}"
    finally:
        with psycopg.connect(ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def wait_http(url: str, timeout: float = 300) -> None:
    # 300 s: two uvicorn workers importing the app at load ~40 took over 120 s to answer.
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError("the API did not start")


def wait_ingest(topic: str, timeout: float = 120) -> None:
    """Ready when a probe published on the readings topic is answered on ``.../rejected``."""
    answered = threading.Event()
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=f"bench-probe-{uuid.uuid4().hex[:6]}"
    )
    client.on_message = lambda *_a: answered.set()
    client.connect("127.0.0.1", 1883)
    client.loop_start()
    client.subscribe(f"{topic}/readings/probe/probe/rejected", qos=1)
    deadline = time.monotonic() + timeout
    while not answered.is_set() and time.monotonic() < deadline:
        client.publish(f"{topic}/readings/probe/probe", b"{}", qos=1)
        answered.wait(2)
    client.loop_stop()
    client.disconnect()
    if not answered.is_set():
        raise RuntimeError("ingest-mqtt did not answer the probe")


class Poller(threading.Thread):
    """Reads the worklist table every ``period`` s; remembers when each alert first appeared."""

    def __init__(self, url: str, since: datetime, period: float) -> None:
        super().__init__(daemon=True)
        self.url, self.since, self.period = url, since, period
        self.seen: dict[tuple[str, str], float] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            while not self.stop.is_set():
                rows = conn.execute(
                    "SELECT patient_id, rule_id FROM worklist_items WHERE raised_at >= %s",
                    (self.since,),
                ).fetchall()
                now = time.perf_counter()
                for pid, rule in rows:
                    self.seen.setdefault((pid, rule), now)
                time.sleep(self.period)


def prepare_api(
    events: list[tuple[int, dict[str, Any]]], *, host: str, tokens: list[str]
) -> list[Prepared]:
    """Each API event's request bytes, built before the clock starts (the same FHIR
    Observations and QuestionnaireResponses, a clinician token each in turn)."""
    prepared = []
    for index, event in events:
        body = payload(event)
        prepared.append(
            Prepared(
                index,
                event["at"],
                request_bytes(
                    host=host,
                    path=f"/fhir/{body['resourceType']}",
                    token=tokens[index % len(tokens)],
                    body=orjson.dumps(body),
                    content_type="application/fhir+json",
                ),
            )
        )
    return prepared


def send_api(
    requests: list[Prepared],
    *,
    port: int,
    t0: float,
    sent_at: dict[int, float],
    acks: list[float],
    errors: list[str],
    connections: int = 64,
) -> None:
    """Post each request at its time over ``connections`` keep-alive connections
    (``keepalive_client``: httpx's pool cost ~11 ms of CPU per request, so the client,
    not the API, set the rate)."""
    asyncio.run(
        send_prepared(
            requests,
            host="127.0.0.1",
            port=port,
            t0=t0,
            sent_at=sent_at,
            acks=acks,
            errors=errors,
            connections=connections,
        )
    )


def send_mqtt(
    events: list[tuple[int, dict[str, Any], bytes]],
    *,
    t0: float,
    sent_at: dict[int, float],
    topic: str,
) -> None:
    """Publish each event's pre-built body at its time (QoS 1)."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-pub-{uuid.uuid4().hex[:6]}")
    client.connect("127.0.0.1", 1883)
    client.loop_start()
    infos = []
    for index, event, body in events:
        delay = t0 + event["at"] - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        sent_at[index] = time.perf_counter()
        infos.append(
            client.publish(
                f"{topic}/readings/{event['patient']}/dev-{event['patient']}", body, qos=1
            )
        )
    deadline = time.monotonic() + 60  # one bound for the lot: a stalled broker link
    for info in infos:  # must not cost 30 s per message
        info.wait_for_publish(max(0.1, deadline - time.monotonic()))
    client.loop_stop()
    client.disconnect()


def cpu_seconds(root: int) -> float:
    """CPU (user + system) of ``root`` and its live descendants (uvicorn's workers), from
    /proc: what the server side spent, whatever else loads the machine."""
    stats: dict[int, tuple[int, float]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        stats[int(entry.name)] = (int(fields[1]), ticks)
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        total += stats.get(pid, (0, 0.0))[1]
        todo.extend(child for child, (parent, _) in stats.items() if parent == pid)
    return total


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--duration", type=float, default=30)
    parser.add_argument("--patients", type=int, default=400)
    parser.add_argument("--mqtt-share", type=float, default=0.5)
    parser.add_argument("--alert-share", type=float, default=0.1)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--api-workers", type=int, default=1)
    parser.add_argument("--database", help="PostgreSQL URL (default: a fresh temporary database).")
    args = parser.parse_args()

    temporary = args.database is None
    name = f"careloop_bench_{uuid.uuid4().hex[:8]}"
    url = args.database or f"{ADMIN.rsplit('/', 1)[0]}/{name}"
    if temporary:
        with psycopg.connect(ADMIN, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    tmp = Path(os.environ.get("TMPDIR", "/tmp")) / name
    tmp.mkdir(parents=True, exist_ok=True)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        patients, tokens = setup(url, args.patients, tmp)
        env = {
            **os.environ,
            "CARELOOP_DATABASE_URL": url,
            "CARELOOP_LOGGING__LEVEL": "WARNING",
            "CARELOOP_DATABASE__POOL_SIZE": "20",
        }
        topic = f"bench-{uuid.uuid4().hex[:6]}"
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "careloop.web.app:create_app",
                    "--factory",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(args.port),
                    "--workers",
                    str(args.api_workers),
                    "--log-level",
                    "warning",
                    "--no-access-log",
                    "--timeout-keep-alive",
                    "75",
                ],
                env=env,
            )
        )
        procs.append(
            subprocess.Popen(
                [
                    str(Path(sys.executable).parent / "careloop"),
                    "ingest-mqtt",
                    "--database",
                    url,
                    "--topic",
                    f"{topic}/readings/#",
                    "--client-id",
                    f"bench-ingest-{topic}",
                ],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=(tmp / "ingest.log").open("wb"),
            )
        )
        base = f"http://127.0.0.1:{args.port}"
        wait_http(f"{base}/health")
        wait_ingest(topic)

        events = plan_events(args, patients)
        started_wall = datetime.now(UTC)
        poller = Poller(url, started_wall, 0.025)
        poller.start()
        sent_at: dict[int, float] = {}
        acks: list[float] = []
        errors: list[str] = []
        load_before = os.getloadavg()
        cpu_before = [cpu_seconds(proc.pid) for proc in procs]
        api = [(i, e) for i, e in enumerate(events) if e["channel"] == "api"]
        mq = [
            (i, e, orjson.dumps(payload(e))) for i, e in enumerate(events) if e["channel"] == "mqtt"
        ]
        requests = prepare_api(api, host=f"127.0.0.1:{args.port}", tokens=tokens)
        t0 = time.perf_counter() + 0.5
        mqtt_thread = threading.Thread(
            target=send_mqtt, args=(mq,), kwargs={"t0": t0, "sent_at": sent_at, "topic": topic}
        )
        mqtt_thread.start()
        send_api(requests, port=args.port, t0=t0, sent_at=sent_at, acks=acks, errors=errors)
        mqtt_thread.join()
        send_seconds = time.perf_counter() - t0
        expected = {
            (e["patient"], RULE_OF[e["kind"]]): i for i, e in enumerate(events) if e["alerting"]
        }
        drain_deadline = time.monotonic() + 60
        while time.monotonic() < drain_deadline and not set(expected) <= set(poller.seen):
            time.sleep(0.2)
        with psycopg.connect(url, autocommit=True) as conn:
            while time.monotonic() < drain_deadline:
                done = conn.execute(COUNT_RECEIVED, (started_wall,)).fetchone()[0]
                done += conn.execute(COUNT_REJECTED, (started_wall,)).fetchone()[0]
                if done >= len(events):
                    break
                time.sleep(0.2)
        time.sleep(1.0)
        poller.stop.set()
        poller.join()
        load_after = os.getloadavg()
        api_cpu, ingest_cpu = (
            cpu_seconds(proc.pid) - before for proc, before in zip(procs, cpu_before, strict=True)
        )
        with psycopg.connect(url) as conn:
            received = conn.execute(COUNT_RECEIVED, (started_wall,)).fetchone()[0]
            rejected = conn.execute(COUNT_REJECTED, (started_wall,)).fetchone()[0]
            items = conn.execute(
                "SELECT patient_id, rule_id, occurrences FROM worklist_items WHERE raised_at >= %s",
                (started_wall,),
            ).fetchall()
        latencies = [
            poller.seen[pair] - sent_at[i] for pair, i in expected.items() if pair in poller.seen
        ]
        raised = {(p, r) for p, r, _ in items}
        exactly_once = all(n == 1 for _, _, n in items) and raised == set(expected)
        result = {
            "p50": _round(percentile(latencies, 50)),
            "p95": _round(percentile(latencies, 95)),
            "p99": _round(percentile(latencies, 99)),
            "sent": len(events),
            "received": int(received),
            "rejected": int(rejected),
            "alerts_expected": len(expected),
            "alerts_raised": len(items),
            "each_alert_exactly_once": exactly_once,
            "rate_target": args.rate,
            "rate_achieved": round(len(events) / send_seconds, 1),
            "api_ack_p50": _round(percentile(acks, 50)),
            "api_ack_p99": _round(percentile(acks, 99)),
            "api_errors": len(errors),
            "first_error": errors[0] if errors else None,
            "mqtt_share": args.mqtt_share,
            "api_workers": args.api_workers,
            "api_cpu_ms_per_event": _per_event(api_cpu, len(api)),
            "ingest_cpu_ms_per_event": _per_event(ingest_cpu, len(mq)),
            "loadavg_before": round(load_before[0], 2),
            "loadavg_after": round(load_after[0], 2),
        }
        sys.stdout.write(orjson.dumps(result).decode() + "\n")
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        if temporary:
            with psycopg.connect(ADMIN, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _per_event(seconds: float, events: int) -> float | None:
    return round(seconds * 1000 / events, 2) if events else None


def _round(value: float | None) -> float | None:
    return round(value, 3) if value is not None else None


if __name__ == "__main__":
    main()
