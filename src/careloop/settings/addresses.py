"""The addresses careloop hands out: a deployment's public URL wins over the host a request
came in on or the interface ``careloop serve`` listens on, which behind a proxy are internal
names no client outside can reach."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from careloop.settings import Settings

_WILDCARDS = frozenset({"0.0.0.0", "::", ""})  # noqa: S104 - names read, nothing bound


def configured_public_base_url(settings: Settings) -> str | None:
    """``security.public_base_url`` when the deployment set it, else None (its default is
    the development address, no better than the request's own host)."""
    if "public_base_url" in settings.security.model_fields_set:
        return settings.security.public_base_url.rstrip("/")
    return None


def console_address(settings: Settings) -> str:
    """Where staff open the service: the public URL when set, else what ``careloop serve``
    listens on (a wildcard interface shown as the loopback address)."""
    public = configured_public_base_url(settings)
    if public is not None:
        return public
    host = "127.0.0.1" if settings.web.host in _WILDCARDS else settings.web.host
    return f"http://{f'[{host}]' if ':' in host else host}:{settings.web.port}"
