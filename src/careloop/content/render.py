"""Rendering a variant with a patient's fields: sandboxed, strict, in their locale and zone.

Templates are Jinja2 in an immutable sandbox with no globals, a short list of filters and
``StrictUndefined``: a template reaches only the fields named in :data:`ALLOWED_FIELDS`, a
missing or empty field fails the render (it never prints "None"), and attribute tricks
(``__class__``, ``mro``, ``__globals__``) raise. Dates and times are formatted by Babel in
the patient's locale after converting to the patient's time zone.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_datetime, format_time
from jinja2 import StrictUndefined, Template, TemplateError, meta, nodes, pass_context
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment
from markupsafe import Markup, escape

from careloop.content.render_plan import Formatter, RenderPlan, plan_of
from careloop.errors import InvalidInput

_DOUBLE_PERIOD = re.compile(r"(?<!\.)\.\.(?!\.)")


class FieldKind(StrEnum):
    TEXT = "text"
    URL = "url"
    PHONE = "phone"
    DATETIME = "datetime"
    DATE = "date"
    INT = "int"


# The only names a template may use. Extending this list is a code review, on purpose.
ALLOWED_FIELDS: Mapping[str, FieldKind] = {
    "first_name": FieldKind.TEXT,
    "last_name": FieldKind.TEXT,
    "care_team_name": FieldKind.TEXT,
    "clinic_phone": FieldKind.PHONE,
    "booking_link": FieldKind.URL,
    "portal_link": FieldKind.URL,
    "checkin_link": FieldKind.URL,
    "readings_link": FieldKind.URL,  # the portal's readings page (BP, glucose, weight)
    "appointment_at": FieldKind.DATETIME,
    "appointment_place": FieldKind.TEXT,
    "due_date": FieldKind.DATE,
    "days_without_readings": FieldKind.INT,
    "program_name": FieldKind.TEXT,
    # access: "1 for Tue 3:45 PM, 2 for Thu 5:00 PM" (formatted in the reader's language)
    "slot_choices": FieldKind.TEXT,
    "pickup_at": FieldKind.DATETIME,
    "ride_provider": FieldKind.TEXT,  # the ride service's name, in reminders of a visit by ride
    "telehealth_link": FieldKind.URL,  # where a video visit is joined
    "tool_name": FieldKind.TEXT,  # a prescribed digital tool (careloop.digitaltools)
    "tool_link": FieldKind.URL,
    "dose_time": FieldKind.TEXT,  # a dose reminder's local clock time, "07:30" (medications)
    "patient_first_name": FieldKind.TEXT,  # whom a caregiver copy is about (first name only)
    "days_left": FieldKind.INT,  # days of medicine supply left (medications refills)
    "form_link": FieldKind.URL,  # a form to complete and sign on the phone (careloop.forms)
    "review_link": FieldKind.URL,  # the practice's page on a public review site (reviews)
    "review_site": FieldKind.TEXT,  # that site's name, "Google"
    # the help a win-back message leads with: ride, cost, hours, new-time or general
    # (careloop.programs.reply_reasons.help_offer); templates branch on it, never print it
    "help_offer": FieldKind.TEXT,
}

URL_PATTERN = re.compile(r"https?://[^\s<>\"']+")


class RenderError(InvalidInput):
    """A template that cannot be rendered with the given fields (or breaks the sandbox)."""


@dataclass(frozen=True)
class RenderContext:
    """Where the reader is: their Babel locale and IANA time zone."""

    locale: Locale
    zone: ZoneInfo


def render_context(*, locale: str, timezone: str) -> RenderContext:
    return _render_context(locale, timezone)


@lru_cache(maxsize=1024)
def _render_context(locale: str, timezone: str) -> RenderContext:
    """Parsed once per locale and zone (a night renders thousands of messages in a few)."""
    try:
        babel_locale = Locale.parse(locale.replace("-", "_"))
    except (UnknownLocaleError, ValueError):
        raise InvalidInput(f"unknown locale {locale!r}", field="locale") from None
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(f"unknown time zone {timezone!r}", field="timezone") from None
    return RenderContext(locale=babel_locale, zone=zone)


def _ctx(context: Context) -> RenderContext:
    value = context.get("_where")
    assert isinstance(value, RenderContext)
    return value


def _local(value: object, where: RenderContext) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise RenderError("date filters need a timezone-aware datetime", field="template")
    return value.astimezone(where.zone)


def _format_date(where: RenderContext, value: object, style: str = "long") -> str:
    day = _local(value, where).date() if isinstance(value, datetime) else value
    if not isinstance(day, date):
        raise RenderError("the date filter needs a date", field="template")
    return str(format_date(day, format=style, locale=where.locale))


def _format_time(where: RenderContext, value: object, style: str = "short") -> str:
    return str(format_time(_local(value, where), format=style, locale=where.locale))


def _format_datetime(where: RenderContext, value: object, style: str = "medium") -> str:
    return str(format_datetime(_local(value, where), format=style, locale=where.locale))


def _format_weekday(where: RenderContext, value: object) -> str:
    day = _local(value, where) if isinstance(value, datetime) else value
    if not isinstance(day, date):
        raise RenderError("the weekday filter needs a date", field="template")
    return str(format_date(day, format="EEEE", locale=where.locale))


def _format_digits(where: RenderContext, value: object) -> str:
    """A phone number as a voice should say it: digit by digit, pausing between groups."""
    groups = re.findall(r"\d+", str(value))
    return ", ".join(" ".join(group) for group in groups)


# Our filters as plain functions of (where, value, *arguments): Jinja calls them through
# :func:`_as_filter`, a render plan (:mod:`careloop.content.render_plan`) directly.
_FORMATTERS: dict[str, Formatter] = {
    "date": _format_date,
    "time": _format_time,
    "datetime": _format_datetime,
    "weekday": _format_weekday,
    "digits": _format_digits,
}


def _as_filter(formatter: Formatter) -> Callable[..., str]:
    @pass_context
    def jinja_filter(context: Context, value: object, *args: object) -> str:
        return formatter(_ctx(context), value, *args)

    return jinja_filter


_FILTERS: dict[str, Callable[..., Any]] = {
    name: _as_filter(formatter) for name, formatter in _FORMATTERS.items()
}
_SAFE_BUILTIN_FILTERS = ("upper", "lower", "capitalize", "title", "trim")


@lru_cache(maxsize=1)
def environment() -> ImmutableSandboxedEnvironment:
    """The one sandbox every template renders in: no globals, few filters, strict names."""
    env = ImmutableSandboxedEnvironment(
        undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False
    )
    env.globals.clear()
    builtin = env.filters
    env.filters = {name: builtin[name] for name in _SAFE_BUILTIN_FILTERS}
    env.filters.update(_FILTERS)
    env.tests = {}
    return env


@lru_cache(maxsize=4096)
def compile_template(source: str) -> Template:
    try:
        return environment().from_string(source)
    except TemplateError as exc:
        raise RenderError(f"template does not compile: {exc.message}", field="template") from None


@lru_cache(maxsize=64)
def _parsed(source: str) -> nodes.Template:
    """One parse for both a template's field names and its render plan (asked in turn)."""
    return environment().parse(source)


@lru_cache(maxsize=4096)
def _template_fields(source: str) -> frozenset[str]:
    try:
        return frozenset(meta.find_undeclared_variables(_parsed(source)))
    except TemplateError as exc:
        raise RenderError(f"template does not compile: {exc.message}", field="template") from None


@lru_cache(maxsize=4096)
def _plan(source: str) -> RenderPlan | None:
    try:
        return plan_of(_parsed(source), formatters=_FORMATTERS)
    except TemplateError:
        return None  # Jinja's compile reports it


def renders_without_jinja(source: str) -> bool:
    """Whether ``source`` has a render plan (it only prints fields, formatted or not)."""
    return _plan(source) is not None


def template_fields(source: str) -> set[str]:
    """Names a template refers to (to check them against the allowed and declared fields)."""
    return set(_template_fields(source))


def validate_fields(fields: Mapping[str, object], *, needed: set[str]) -> dict[str, object]:
    """The fields a template needs, type-checked; a missing or empty one is an error."""
    clean: dict[str, object] = {}
    for name in sorted(needed):
        kind = ALLOWED_FIELDS.get(name)
        if kind is None:
            raise RenderError(f"templates may not use {name!r}", field=name)
        value = fields.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            raise RenderError(f"field {name} is missing", field=name)
        clean[name] = _coerce(name, kind, value)
    return clean


def _iso(name: str, value: object, kind: type[date], what: str) -> object:
    """A string field read as an ISO date or datetime; any other value is left as it is."""
    if not isinstance(value, str):
        return value
    try:
        return kind.fromisoformat(value)
    except ValueError:
        raise RenderError(f"field {name} is not an ISO {what}", field=name) from None


def _coerce(name: str, kind: FieldKind, value: object) -> object:
    if kind is FieldKind.DATETIME:
        value = _iso(name, value, datetime, "datetime")
        if not isinstance(value, datetime) or value.tzinfo is None:
            raise RenderError(f"field {name} must be a timezone-aware datetime", field=name)
        return value
    if kind is FieldKind.DATE:
        value = _iso(name, value, date, "date")
        if not isinstance(value, date):
            raise RenderError(f"field {name} must be a date", field=name)
        return value
    if kind is FieldKind.INT:
        if isinstance(value, bool) or not isinstance(value, int):
            raise RenderError(f"field {name} must be an integer", field=name)
        return value
    if not isinstance(value, str):
        raise RenderError(f"field {name} must be text", field=name)
    if kind is FieldKind.URL and not URL_PATTERN.fullmatch(value):
        raise RenderError(f"field {name} must be an http(s) link", field=name)
    if kind is FieldKind.PHONE and not re.search(r"\d{3}", value):
        raise RenderError(f"field {name} must be a phone number", field=name)
    return value.strip()


# The renders of :func:`traced_renders`' block: each template's plan, None for Jinja's.
_TRACE: ContextVar[list[RenderPlan | None] | None] = ContextVar(
    "careloop_render_trace", default=None
)


@contextmanager
def traced_renders() -> Iterator[list[RenderPlan | None]]:
    """The plan of every template rendered inside the block (None where Jinja rendered
    one), so a caller can tell how each field reached the text."""
    plans: list[RenderPlan | None] = []
    token = _TRACE.set(plans)
    try:
        yield plans
    finally:
        _TRACE.reset(token)


def render_template(source: str, *, fields: Mapping[str, object], where: RenderContext) -> str:
    """Render one template source; errors name the field or say the template is at fault."""
    plan = _plan(source)
    if (trace := _TRACE.get()) is not None:
        trace.append(plan)
    if plan is None:
        return render_with_jinja(source, fields=fields, where=where)
    # The same text as Jinja's render without one (most templates only print fields).
    values = validate_fields(fields, needed=template_fields(source))
    return _tidy(plan.fill(values, where))


def render_with_jinja(source: str, *, fields: Mapping[str, object], where: RenderContext) -> str:
    """Render through the sandbox: any template, and the reference a render plan must equal."""
    template = compile_template(source)
    values = validate_fields(fields, needed=template_fields(source))
    try:
        text = template.render({**values, "_where": where})
    except SecurityError:
        raise RenderError(
            "template tried something the sandbox forbids", field="template"
        ) from None
    except TemplateError as exc:
        raise RenderError(f"template failed: {exc.message}", field="template") from None
    return _tidy(text)


# A harmless value of each kind, to try a template before it is stored (see approval).
SAMPLE_BY_KIND: Mapping[FieldKind, object] = {
    FieldKind.TEXT: "Sample",
    FieldKind.URL: "https://example.org/x",
    FieldKind.PHONE: "(555) 010-0100",
    FieldKind.DATETIME: datetime(2026, 1, 15, 15, 30, tzinfo=UTC),
    FieldKind.DATE: date(2026, 1, 15),
    FieldKind.INT: 3,
}


def check_template_renders(source: str) -> None:
    """Render ``source`` once with sample values: a sandbox violation or a filter misused on
    the wrong kind of field is caught when the words are written, not when a patient waits."""
    values = {name: SAMPLE_BY_KIND[kind] for name, kind in ALLOWED_FIELDS.items()}
    render_template(source, fields=values, where=render_context(locale="en_US", timezone="UTC"))


def _tidy(text: str) -> str:
    # Collapse runs of whitespace, including the (narrow) no-break spaces Babel puts in times
    # ("3:30\u202fPM"): they are not GSM-7 and would turn an English SMS into UCS-2.
    lines = [" ".join(line.split()) for line in text.strip().splitlines()]
    # A value ending in a period ("2:30 p.m.") before the template's own period.
    lines = [_DOUBLE_PERIOD.sub(".", line) for line in lines]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines))


def email_html(*, text: str, subject: str, language: str) -> str:
    """The HTML body of an e-mail from its plain text: same words, links made clickable."""
    paragraphs = [p for p in text.split("\n\n") if p.strip()]
    body = "".join(f"<p>{_linkify(p)}</p>" for p in paragraphs)
    return str(
        Markup(
            '<!doctype html><html lang="{lang}"><head><meta charset="utf-8"><title>{title}</title>'
            '</head><body style="font-family:Arial,Helvetica,sans-serif;font-size:17px;'
            'line-height:1.5;color:#1a1a1a;max-width:600px;margin:0 auto;padding:16px">'
            "{body}</body></html>"
        ).format(lang=language, title=subject, body=Markup(body))  # noqa: S704
    )


def _linkify(paragraph: str) -> Markup:
    out = Markup()
    position = 0
    for match in URL_PATTERN.finditer(paragraph):
        url = match.group(0).rstrip(".,;:)")
        out += escape(paragraph[position : match.start()])
        out += Markup('<a href="{0}">{0}</a>').format(url)
        position = match.start() + len(url)
    out += escape(paragraph[position:])
    return Markup("<br>\n").join(out.split("\n"))
