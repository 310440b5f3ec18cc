"""What every server-rendered page shares: templates, who is looking, and how a POST ends.

Pages authenticate through :func:`careloop.web.deps.authenticate` (the one place that knows
bearer tokens, session cookies and proxy grants); a page shown to someone not signed in
redirects to the sign-in form instead of answering JSON. Writes go through ``require(...)``
like the API: cookie-authenticated POSTs carry the CSRF token in the ``X-CSRF-Token``
header, which the vendored htmx adds from the ``hx-headers`` attribute of ``<body>``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session

from careloop.channels.labels import CHANNEL_WORDS, channel_name
from careloop.clock import Clock
from careloop.errors import NotAuthenticated
from careloop.security.principal import Principal
from careloop.security.redirects import same_origin_path
from careloop.security.sessions import csrf_token_for
from careloop.web.console.words import language_words, program_title_filter, team_title_filter
from careloop.web.cookies import session_cookie
from careloop.web.deps import ClockDep, SessionDep, authenticate, get_settings, get_signing_key
from careloop.web.timefmt import both_times_filter, local_time_filter

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"
STATIC_DIR = Path(__file__).resolve().parent.parent / "static"

templates = Jinja2Templates(directory=str(TEMPLATES_DIR))


def page_principal(request: Request, session: Session, clock: Clock) -> Principal | None:
    """The signed-in caller of a page, or None (the page then redirects to sign-in)."""
    try:
        return authenticate(request, session, clock)
    except NotAuthenticated:
        return None


def page_viewer(
    request: Request,
    session: Session,
    clock: Clock,
    *,
    may: str | Callable[[Principal], bool],
    what: str,
) -> Principal | Response:
    """The signed-in caller allowed to see a console page, or the answer sending them away:
    the sign-in redirect, or the 403 page naming ``what`` (a permission name or a test)."""
    principal = page_principal(request, session, clock)
    if principal is None:
        return sign_in_redirect(request)
    allowed = principal.can(may) if isinstance(may, str) else may(principal)
    return principal if allowed else forbidden(request, principal, what=what)


class PageRefused(Exception):
    """A console page's caller sent away: ``response`` is the sign-in redirect or the 403
    page (:func:`page_viewer`), answered by the app's handler for this exception."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


@dataclass(frozen=True, slots=True)
class ConsoleView:
    """A console page opened by a caller allowed to see it (:func:`viewer`)."""

    request: Request
    session: Session
    clock: Clock
    principal: Principal

    @property
    def team_title(self) -> Callable[[str], str]:
        """A team's name as this site's staff read it (``Settings.teams``)."""
        return get_settings(self.request).team_title

    def render(self, template: str, context: Mapping[str, Any]) -> HTMLResponse:
        """:func:`render` for this request and caller."""
        return render(self.request, template, context, principal=self.principal)


def viewer(may: str | Callable[[Principal], bool], *, what: str) -> Any:
    """A console page opened by a caller allowed to see it, as one dependency:
    ``view: Annotated[ConsoleView, viewer("worklist:read", what="the worklist")]``; anyone
    else gets :func:`page_viewer`'s answer (the sign-in redirect or the 403 page)."""

    def dependency(request: Request, session: SessionDep, clock: ClockDep) -> ConsoleView:
        found = page_viewer(request, session, clock, may=may, what=what)
        if not isinstance(found, Principal):
            session.commit()  # what signing in touched (the session's last use) is kept
            raise PageRefused(found)
        return ConsoleView(request, session, clock, found)

    return Depends(dependency)


def _page_number(page: int = 0) -> int:
    return max(page, 0)


PageNumber = Annotated[int, Depends(_page_number)]
"""A paged list's ``?page=`` (from 0; a negative number shows the first page)."""

CatalogueId = Annotated[str, Form(max_length=64, pattern=r"^[a-z0-9][a-z0-9-]*$")]
"""A posted id from one of the catalogues (a form, a digital tool): lower-case, digits, ``-``."""


def csrf_for(request: Request) -> str | None:
    """The CSRF token the page's forms send back (None for bearer-token or anonymous use)."""
    found = session_cookie(request)
    return csrf_token_for(get_signing_key(request), found[1]) if found else None


def render(
    request: Request,
    template: str,
    context: Mapping[str, Any],
    *,
    status_code: int = 200,
    principal: Principal | None = None,
) -> HTMLResponse:
    return templates.TemplateResponse(
        request,
        template,
        {
            "principal": principal,
            "csrf_token": csrf_for(request),
            # Staff see the clinic's clock; the portal passes the patient's zone instead.
            "viewer_zone": get_settings(request).records.default_timezone,
            **context,
        },
        status_code=status_code,
    )


def sign_in_redirect(request: Request, *, to: str = "/console/sign-in") -> RedirectResponse:
    target = request.url.path
    if request.url.query:
        target += "?" + request.url.query
    return RedirectResponse(f"{to}?{urlencode({'next': target})}", status_code=303)


def forbidden(request: Request, principal: Principal, *, what: str) -> HTMLResponse:
    """A 403 page: the role may not see this (the navigation does not offer it either)."""
    return render(
        request,
        "console/forbidden.html",
        {"what": what},
        status_code=403,
        principal=principal,
    )


def after_post(request: Request, url: str) -> Response:
    """End a successful form POST: htmx follows ``HX-Redirect``; a plain form gets a 303."""
    if request.headers.get("HX-Request"):
        return Response(status_code=200, headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=303)


def safe_next(value: str | None, *, default: str) -> str:
    """Only console paths on this origin may be a post-sign-in destination (no open redirect)."""
    return same_origin_path(value, prefix="/console", default=default)


def time_left(due: datetime, now: datetime) -> str:
    """``2 h 5 min left`` or ``overdue by 40 min``: the SLA as a nurse reads it."""
    seconds = int((due - now).total_seconds())
    overdue = seconds < 0
    minutes = abs(seconds) // 60
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    parts = [f"{days} d"] if days else []
    if hours or days:
        parts.append(f"{hours} h")
    if not days:
        parts.append(f"{mins} min")
    text = " ".join(parts)
    return f"overdue by {text}" if overdue else f"{text} left"


def sla_left(
    due: datetime,
    now: datetime,
    *,
    escalations: int = 0,
    to: str | None = None,
    acknowledged_at: datetime | None = None,
) -> str:
    """The SLA, saying when the clock is an escalation's and to whom (``to``, in words): an
    escalated item's deadline moved forward, so "55 min left" alone would read as if nothing
    had been missed, and "escalated" alone leaves nobody knowing who was told. The deadline
    is to acknowledge: once acknowledged nothing escalates, so no clock is shown."""
    times = "" if escalations == 1 else f" {escalations} times"
    whom = f" to {to}" if to else ""
    if acknowledged_at is not None:
        done = f"acknowledged {time_since(acknowledged_at, now)}"
        return f"escalated{whom}{times} · {done}" if escalations else done
    left = time_left(due, now)
    if not escalations:
        return left
    if due <= now:
        return f"escalated{whom}{times} · {left}"
    return f"escalated{whom}{times} · {left} before it escalates again"


def time_since(moment: datetime, now: datetime) -> str:
    """``just now``, ``20 min ago``, ``3 h ago``, ``2 d ago``: how old the news is."""
    minutes = max(int((now - moment).total_seconds()) // 60, 0)
    if minutes < 1:
        return "just now"
    if minutes < 60:
        return f"{minutes} min ago"
    if minutes < 48 * 60:
        return f"{minutes // 60} h ago"
    return f"{minutes // (24 * 60)} d ago"


templates.env.filters["local_time"] = local_time_filter
templates.env.filters["both_times"] = both_times_filter
templates.env.filters["program_title"] = program_title_filter
templates.env.filters["team_title"] = team_title_filter
templates.env.filters["channel_name"] = channel_name
templates.env.filters["language_words"] = language_words
templates.env.globals["channel_words"] = CHANNEL_WORDS
