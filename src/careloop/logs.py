"""Structured JSON logs without PHI.

Log records carry event names, ids and counts, never names, contact points, birth dates or
message bodies. Request logs carry the route template, not the URL (which may carry ids),
and the status code.
"""

from __future__ import annotations

import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

import orjson

# uvicorn adds ``color_message`` (the message with terminal colours): noise in a log file.
_STANDARD = set(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime", "color_message"}

# The id of the HTTP request being served (``X-Request-ID``), added to every log line
# written while serving it, so one request's lines can be found together.
request_id: ContextVar[str | None] = ContextVar("careloop_request_id", default=None)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        current = request_id.get()
        if current is not None:
            payload["request_id"] = current
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                payload[key] = value
        if record.exc_info and record.exc_info[0] is not None:
            payload["error"] = record.exc_info[0].__name__
        return orjson.dumps(payload, default=str).decode()


class TextFormatter(JsonFormatter):
    """One readable line per record (``CARELOOP_LOGGING__JSON=false``), same fields."""

    def format(self, record: logging.LogRecord) -> str:
        payload = orjson.loads(super().format(record))
        head = f"{payload.pop('time')} {payload.pop('level'):<7} {payload.pop('logger')}"
        rest = " ".join(f"{k}={v}" for k, v in payload.items() if k != "event")
        return f"{head}: {payload['event']}" + (f" {rest}" if rest else "")


def configure_logging(level: str = "INFO", *, json_format: bool = True) -> None:
    """Send logs to stderr (JSON lines by default) at ``level``; quiet uvicorn's access log
    (it logs full URLs, which may carry ids): careloop writes its own request log."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if json_format else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("careloop").setLevel(level.upper())
    logging.getLogger("uvicorn.access").disabled = True
