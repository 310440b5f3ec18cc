"""The client's own address behind a trusted reverse proxy (``web.trusted_proxies``).

Behind a proxy every connection comes from the proxy, so rate limits, the sign-in back-off
by address and audit rows would all see one address. Only when the immediate peer is a
trusted proxy is the address taken from the forwarding header: the right-most entry that is
not itself a trusted proxy (each proxy appends the address it saw, so entries to its left
may be written by the client and are never believed). An untrusted peer's forwarding
headers change nothing. The scheme follows ``X-Forwarded-Proto`` (or ``proto=``) from a
trusted peer, so cookies are ``Secure`` behind a TLS-terminating proxy; the host never comes
from a header: links follow ``security.public_base_url``.

One header is read, the one ``web.proxy_header`` names: a proxy that writes
``X-Forwarded-For`` passes a client's own ``Forwarded`` header through untouched (and the
reverse), so reading both would let a client choose its address.

Our own middleware rather than uvicorn's ``ProxyHeadersMiddleware`` (whose walk it
follows): that one runs only under ``uvicorn.run``, reads no ``Forwarded`` header and turns
a mistyped address into a literal that silently never matches; here the setting is checked
at start and the same code runs under every server and in tests. ``careloop serve`` turns
uvicorn's off (``proxy_headers=False``) so the address is rewritten once.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from enum import StrEnum

from starlette.types import ASGIApp, Receive, Scope, Send

from careloop.web.asgi import HttpMiddleware

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_SCHEMES = frozenset({"http", "https"})


class ProxyHeader(StrEnum):
    """The forwarding header a deployment's proxy writes."""

    X_FORWARDED_FOR = "x-forwarded-for"  # with X-Forwarded-Proto (nginx, HAProxy, ELB)
    FORWARDED = "forwarded"  # RFC 7239 ``for=``/``proto=``


def _address(text: str) -> str | None:
    """``text`` as a canonical IP address, or None (``unknown``, an obfuscated name)."""
    try:
        return str(ipaddress.ip_address(text.strip()))
    except ValueError:
        return None


def _node_address(node: str) -> str | None:
    """The address of an RFC 7239 node: ``192.0.2.1``, ``192.0.2.1:80``, ``[2001:db8::1]:80``."""
    node = node.strip().strip('"')
    if node.startswith("["):
        return _address(node[1 : node.find("]")]) if "]" in node else None
    if node.count(":") == 1:
        node = node.split(":", 1)[0]
    return _address(node)


def _forwarded_pairs(value: str) -> list[dict[str, str]]:
    """The elements of a ``Forwarded`` header, each as its lower-cased ``name=value`` pairs."""
    elements: list[dict[str, str]] = []
    for element in value.split(","):
        pairs: dict[str, str] = {}
        for pair in element.split(";"):
            name, sep, raw = pair.partition("=")
            if sep:
                pairs[name.strip().lower()] = raw.strip().strip('"')
        elements.append(pairs)
    return elements


class TrustedProxies:
    """The proxies whose forwarding headers are believed."""

    def __init__(self, networks: Sequence[Network]) -> None:
        self.networks = tuple(networks)

    def __bool__(self) -> bool:
        return bool(self.networks)

    def trusts(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False  # a Unix socket peer or a test client's name: never a proxy
        return any(ip in network for network in self.networks)

    def client(self, hops: Sequence[str | None]) -> str | None:
        """The right-most hop that is not a trusted proxy (left-most if all are); None when
        that hop is not an address (``unknown``): the peer's address then stays."""
        for hop in reversed(hops):
            if hop is None or not self.trusts(hop):
                return hop
        return hops[0] if hops else None


def _header_values(scope: Scope, name: bytes) -> list[str]:
    """Every line of header ``name``, in order (proxies may add a line instead of a comma)."""
    return [
        bytes(value).decode("latin-1")
        for key, value in scope.get("headers") or ()
        if key.lower() == name
    ]


def forwarded_client(
    scope: Scope, *, proxies: TrustedProxies, header: ProxyHeader
) -> tuple[str | None, str | None]:
    """``(client address, scheme)`` from the forwarding header, each None when not given."""
    if header is ProxyHeader.FORWARDED:
        lines = _header_values(scope, b"forwarded")
        elements = [pairs for value in lines for pairs in _forwarded_pairs(value)]
        hops = [_node_address(pairs.get("for", "")) for pairs in elements]
        scheme = elements[-1].get("proto", "").lower() if elements else ""
    else:
        lines = _header_values(scope, b"x-forwarded-for")
        entries = [entry for value in lines for entry in value.split(",")]
        hops = [_address(entry) for entry in entries if entry.strip()]
        protos = _header_values(scope, b"x-forwarded-proto")
        scheme = protos[-1].strip().lower() if protos else ""
    return proxies.client(hops), scheme if scheme in _SCHEMES else None


class ForwardedClient(HttpMiddleware):
    """Rewrite the request's client address and scheme when a trusted proxy forwarded it."""

    def __init__(self, app: ASGIApp, *, networks: Sequence[Network], header: ProxyHeader) -> None:
        super().__init__(app)
        self.proxies = TrustedProxies(networks)
        self.header = header

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        peer = scope.get("client")
        if self.proxies and peer and self.proxies.trusts(peer[0]):
            client, scheme = forwarded_client(scope, proxies=self.proxies, header=self.header)
            if client is not None or scheme is not None:
                scope = dict(scope)
                if client is not None:
                    scope["client"] = (client, 0)  # the client's port is not forwarded
                if scheme is not None:
                    scope["scheme"] = scheme
        await self.app(scope, receive, send)
