"""Prometheus metrics at ``/metrics``: this process's requests and latencies, and the
operational counts every process shares (read from the database at scrape time).

Each app has its own registry (tests build many apps; the global one would refuse the
second). Labels are route templates, channels, states, severities and job names: no PHI.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector

from careloop.compose.observability import operational_counts
from careloop.runtime import Runtime

router = APIRouter(tags=["health"])

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class HttpMetrics:
    """The request counter and latency histogram of one app, and its registry."""

    def __init__(self, runtime: Runtime) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "careloop_http_requests",
            "HTTP requests answered, by method, route template and status.",
            ("method", "route", "status"),
            registry=self.registry,
        )
        self.latency = Histogram(
            "careloop_http_request_duration_seconds",
            "Time to answer an HTTP request, by method and route template.",
            ("method", "route"),
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(DatabaseCollector(runtime))

    def observe(self, *, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)


class DatabaseCollector(Collector):
    """Outbox depth, sends, open alerts and job runs, counted when scraped."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def collect(self) -> Iterator[Metric]:
        rt = self.runtime
        now = rt.clock.now()
        with rt.transaction() as session:
            counts = operational_counts(session, now=now)
        outbox = GaugeMetricFamily(
            "careloop_outbox_messages", "Outbox messages by state.", labels=["state"]
        )
        for state, n in sorted(counts.outbox_by_state.items()):
            outbox.add_metric([state], n)
        yield outbox
        sends = CounterMetricFamily(
            "careloop_sends", "Send attempts by channel and outcome.", labels=["channel", "outcome"]
        )
        for (channel, outcome), n in sorted(counts.sends.items()):
            sends.add_metric([channel, outcome], n)
        yield sends
        alerts = GaugeMetricFamily(
            "careloop_open_alerts", "Unacknowledged alerts by severity.", labels=["severity"]
        )
        oldest = GaugeMetricFamily(
            "careloop_open_alert_oldest_age_seconds",
            "Age of the oldest unacknowledged alert, by severity.",
            labels=["severity"],
        )
        for severity, n in sorted(counts.open_alerts.items()):
            alerts.add_metric([severity], n)
            if severity in counts.oldest_alert_seconds:
                oldest.add_metric([severity], counts.oldest_alert_seconds[severity])
        yield alerts
        yield oldest
        runs = CounterMetricFamily(
            "careloop_job_runs", "Periodic job runs by job and result.", labels=["job", "result"]
        )
        last = GaugeMetricFamily(
            "careloop_job_last_run_timestamp_seconds",
            "When a periodic job last finished (Unix time).",
            labels=["job"],
        )
        for job in counts.jobs:
            runs.add_metric([job.name, "ok"], job.runs - job.failures)
            runs.add_metric([job.name, "failed"], job.failures)
            if job.last_finished_at is not None:
                last.add_metric([job.name], job.last_finished_at.timestamp())
        yield runs
        yield last


@router.get("/metrics", include_in_schema=False)
def metrics(request: Request) -> Response:
    """Prometheus text exposition (aggregates only)."""
    token = request.app.state.runtime.settings.web.metrics_token
    if token is not None:
        given = request.headers.get("authorization", "")
        expected = f"Bearer {token.get_secret_value()}"
        if not hmac.compare_digest(given.encode(), expected.encode()):
            return Response("metrics token required\n", status_code=401, media_type="text/plain")
    registry = request.app.state.metrics.registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
