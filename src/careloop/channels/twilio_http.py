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

import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import lru_cache
from typing import Any
from urllib.parse import urlencode, urlsplit

import requests
from requests import PreparedRequest
from requests.adapters import HTTPAdapter
from requests.auth import _basic_auth_str
from requests.structures import CaseInsensitiveDict
from requests.utils import get_environ_proxies, requote_uri
from twilio.http.http_client import TwilioHttpClient
from twilio.http.request import Request as TwilioRequest
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
        url = self.rebased(url)
        headers = dict(headers or {})
        token = _idempotency_token.get()
        if token is not None:
            headers[IDEMPOTENCY_HEADER] = token
        if timeout is None:
            timeout = self.timeout
        elif timeout <= 0:
            raise ValueError(timeout)
        kwargs = {"method": method.upper(), "url": url, "params": params, "headers": headers}
        self.log_request(kwargs)
        self._test_only_last_response = None
        self._test_only_last_request = TwilioRequest(**kwargs, data=data, auth=auth)
        assert self.session is not None
        prepared = self._prepare(method.upper(), url, params, data, headers, auth)
        if allow_redirects:
            response = self.session.send(
                prepared, allow_redirects=True, timeout=timeout, proxies=self.proxy
            )
        else:
            response = self._transport(prepared, timeout=timeout)
        self.log_response(response.status_code, response)
        self._test_only_last_response = Response(
            int(response.status_code), response.text, response.headers
        )
        return self._test_only_last_response

    def rebased(self, url: str) -> str:
        """``url`` on this client's base URL (the package writes ``https://api.twilio.com``)."""
        if url.startswith(TWILIO_API_BASE):
            return self.base_url + url[len(TWILIO_API_BASE) :]
        return url

    def _transport(self, prepared: PreparedRequest, *, timeout: float) -> requests.Response:
        """What ``Session.send`` does for a request that follows no redirect, without its
        bookkeeping: the same transport adapter (so the same connection pool and bytes on the
        wire) with the same settings, and the body read at once (not streamed). Left out:
        the response hooks (the request has none), the session cookie jar's update (it is
        never sent, see :meth:`_prepare`), the elapsed time and the next redirect's request."""
        assert self.session is not None
        session = self.session
        response: requests.Response = session.get_adapter(url=prepared.url).send(
            prepared,
            stream=False,
            timeout=timeout,
            verify=session.verify,
            cert=session.cert,
            proxies=self.proxy,
        )
        response.content  # noqa: B018  # read now, as ``Session.send`` does unless streaming
        return response

    def _prepare(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None,
        data: dict[str, object] | None,
        headers: dict[str, str],
        auth: tuple[str, str] | None,
    ) -> PreparedRequest:
        """The request ``requests`` would prepare for Twilio's form-encoded API, built
        directly: ``Session.prepare_request`` (merging cookies, hooks and settings, parsing
        the URL, sniffing the body) was 1.6 of the 2.5 ms of CPU a send cost in the
        dispatch profile. Same wire format: the session's headers under the request's,
        ``None`` values dropped, the form and query encoded as ``requests`` encodes them,
        ``Content-Length`` and HTTP basic auth. The session's cookie jar is not sent
        (Twilio's API sets none)."""
        assert self.session is not None
        prepared = PreparedRequest()
        prepared.method = method
        query = _form(params)
        prepared.url = requote_uri(f"{url}{'&' if '?' in url else '?'}{query}" if query else url)
        prepared.headers = _merged_headers(self.session.headers, headers)
        body = _form(data) if data else None
        if headers.get("Content-Type") in {"application/json", "application/scim+json"}:
            body = json.dumps(data, allow_nan=False) if data is not None else None
        prepared.body = body
        if body:
            prepared.headers["Content-Length"] = str(len(body.encode()))
        elif method not in {"GET", "HEAD"}:
            prepared.headers["Content-Length"] = "0"
        if body and "content-type" not in prepared.headers:
            prepared.headers["Content-Type"] = "application/x-www-form-urlencoded"
        if auth is not None:
            prepared.headers["Authorization"] = _basic_auth(*auth)
        prepared.hooks = {"response": []}
        return prepared

    def log_request(self, kwargs: dict[str, Any]) -> None:
        # The package logs every header; we log the method and path only (no query, no body).
        if _logger.isEnabledFor(logging.DEBUG):  # not a URL parse a send when nobody reads it
            path = urlsplit(kwargs["url"]).path
            _logger.debug("twilio request", extra={"method": kwargs["method"], "path": path})

    def log_response(self, status_code: int, response: Any) -> None:
        _logger.debug("twilio response", extra={"status": status_code})


def _merged_headers(
    defaults: CaseInsensitiveDict[str | bytes], headers: dict[str, str]
) -> CaseInsensitiveDict[str | bytes]:
    """``requests``' merge of the session's headers with a request's (the request's win,
    names compared case-insensitively, a ``None`` value removes the header), built straight
    into the result's store: three ``CaseInsensitiveDict`` copies a send were ~10 % of it."""
    merged: CaseInsensitiveDict[str | bytes] = CaseInsensitiveDict()
    store = merged._store
    for name, value in (*defaults._store.values(), *headers.items()):
        store[name.lower()] = (name, value)
    for lowered in [key for key, (_, value) in store.items() if value is None]:
        del store[lowered]
    return merged


def _form(fields: dict[str, object] | None) -> str:
    """``requests``' form encoding (``urlencode(..., doseq=True)``): a list value repeats its
    key, ``None`` is left out. Text goes through one translation table instead of
    ``quote_plus``, which quotes byte by byte in Python (~40 % of a send's request building)."""
    if not fields:
        return ""
    pairs: list[str] = []
    for key, values in fields.items():
        for value in values if isinstance(values, list | tuple) else [values]:
            if value is None:
                continue
            if isinstance(value, str) or type(value) in {int, float, bool}:
                text = value if isinstance(value, str) else str(value)
                pairs.append(f"{_quote_plus(key)}={_quote_plus(text)}")
            else:  # bytes and the like: as ``urlencode`` treats them
                pairs.append(urlencode([(key, value)], doseq=True))
    return "&".join(pairs)


_UNRESERVED = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~"
_PLUS_QUOTED = {
    byte: chr(byte) if chr(byte) in _UNRESERVED else "+" if byte == 0x20 else f"%{byte:02X}"
    for byte in range(256)
}
"""``quote_plus`` of each byte of UTF-8 text (the text decoded as Latin-1 maps each byte to
one character, which the table replaces)."""


def _quote_plus(text: str) -> str:
    """``urllib.parse.quote_plus(text)``, in C."""
    return text.encode().decode("latin-1").translate(_PLUS_QUOTED)


@lru_cache(maxsize=8)
def _basic_auth(username: str, password: str) -> str:
    return str(_basic_auth_str(username, password))


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
