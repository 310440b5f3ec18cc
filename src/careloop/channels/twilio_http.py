"""A ``twilio`` REST client that talks to any Twilio-compatible base URL, with idempotency.

The ``twilio`` package builds absolute ``https://api.twilio.com/...`` URLs (``region``/``edge``
only rename the host inside twilio.com), so a self-hosted or third-party gateway that copies
Twilio's API needs the prefix rewritten. :class:`TwilioCompatibleHttpClient` does that one
thing on top of the package's own ``TwilioHttpClient`` and adds the
``I-Twilio-Idempotency-Token`` header for the duration of one send (see docs/channels.md on
what that header does and does not guarantee). It never retries on its own: retries belong to
the outbox, which knows whether a send is safe to repeat.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any
from urllib.parse import urlsplit

from requests.adapters import HTTPAdapter
from requests.utils import get_environ_proxies
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from careloop.channels.settings import TWILIO_API_BASE

IDEMPOTENCY_HEADER = "I-Twilio-Idempotency-Token"
POOL_SIZE = 64
"""Connections kept per host: at least ``worker.concurrency`` (at most 256 threads; beyond
the pool, a connection is opened per send and closed after it)."""

_logger = logging.getLogger(__name__)
_idempotency_token: ContextVar[str | None] = ContextVar("twilio_idempotency_token", default=None)


class TwilioCompatibleHttpClient(TwilioHttpClient):  # type: ignore[misc]  # twilio is untyped
    """Rewrites ``https://api.twilio.com`` to ``base_url`` and adds the idempotency header."""

    def __init__(self, *, base_url: str, timeout: float) -> None:
        # Proxies and the CA bundle are read from the environment once, here, for the one
        # host this client talks to. ``requests`` otherwise re-reads every environment
        # variable on each request (``merge_environment_settings``): 1.1 ms of the 3.3 ms a
        # send cost in the dispatch profile.
        proxies = get_environ_proxies(base_url)
        super().__init__(pool_connections=True, timeout=timeout, logger=_logger, proxy=proxies)
        assert self.session is not None
        self.session.trust_env = False
        # One pool per client (so per worker process), large enough that concurrent senders
        # (``worker.concurrency``) reuse their connections instead of a TLS handshake each.
        for scheme in ("https://", "http://"):
            self.session.mount(scheme, HTTPAdapter(pool_connections=4, pool_maxsize=POOL_SIZE))
        bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
        if bundle:
            self.session.verify = bundle
        self.base_url = base_url.rstrip("/")

    def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        if url.startswith(TWILIO_API_BASE):
            url = self.base_url + url[len(TWILIO_API_BASE) :]
        headers = dict(headers or {})
        token = _idempotency_token.get()
        if token is not None:
            headers[IDEMPOTENCY_HEADER] = token
        return super().request(
            method,
            url,
            params=params,
            data=data,
            headers=headers,
            auth=auth,
            timeout=timeout,
            allow_redirects=allow_redirects,
        )

    def log_request(self, kwargs: dict[str, Any]) -> None:
        # The package logs every header; we log the method and path only (no query, no body).
        path = urlsplit(kwargs["url"]).path
        _logger.debug("twilio request", extra={"method": kwargs["method"], "path": path})

    def log_response(self, status_code: int, response: Any) -> None:
        _logger.debug("twilio response", extra={"status": status_code})


@contextmanager
def idempotency_token(token: str) -> Iterator[None]:
    """Send ``token`` as ``I-Twilio-Idempotency-Token`` on requests made inside the block."""
    reset = _idempotency_token.set(token)
    try:
        yield
    finally:
        _idempotency_token.reset(reset)


def build_twilio_client(
    *, account_sid: str, auth_token: str, base_url: str = TWILIO_API_BASE, timeout: float = 10.0
) -> Any:
    """A ``twilio.rest.Client`` bound to ``base_url`` (typed ``Any``: the package is untyped)."""
    return Client(
        username=account_sid,
        password=auth_token,
        account_sid=account_sid,
        http_client=TwilioCompatibleHttpClient(base_url=base_url, timeout=timeout),
    )
