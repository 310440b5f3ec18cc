"""The console in a nurse's words: channels, teams, programs, consent, what was learned and
when a queued message really goes out.

A nurse read "channel: sms 0/0", a consent grid of codes and a team's slug. The words come
from one table each (``channels.labels`` for channels, ``Settings.teams`` for teams, the
running site's programs for program titles); the pages ask here instead of spelling codes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from jinja2 import pass_context
from starlette.requests import Request

from careloop.channels.labels import CHANNEL_WORDS, channel_name, counted
from careloop.governance.consent import ConsentBasis, ConsentDecision
from careloop.models import ConsentRecord
from careloop.outreach.config import outreach_settings
from careloop.outreach.messages import ConversationItem
from careloop.outreach.quiet_hours import quiet_hours_end
from careloop.outreach.states import PENDING_STATES
from careloop.outreach.titles import program_title
from careloop.personalize.explain import window_name
from careloop.personalize.framing import FRAMING_WORDS
from careloop.personalize.profile import QuietHours
from careloop.records.interpreter import language_name
from careloop.settings import Settings, title_from_name
from careloop.web.deps import get_settings
from careloop.web.timefmt import zone_info

_PURPOSES = {
    "care-reminders": "Care reminders",
    "clinical-monitoring": "Clinical monitoring",
    "surveys": "Surveys",
    "research": "Research",
    "marketing": "News and offers",
}


def _settings(ctx: Any) -> Settings | None:
    """The running app's settings, from the page's request (None outside a request)."""
    request = ctx.get("request")
    return get_settings(request) if isinstance(request, Request) else None


@pass_context
def team_title_filter(ctx: Any, name: str | None) -> str:
    """Jinja ``team_title``: the team as the running site names it (``Settings.teams``)."""
    settings = _settings(ctx)
    if settings is not None:
        return settings.team_title(name)
    return title_from_name(name) if name else "—"


@pass_context
def program_title_filter(ctx: Any, name: str) -> str:
    """Jinja ``program_title``: the title among the running site's own programs too."""
    settings = _settings(ctx)
    own = outreach_settings(settings)[0] if settings is not None else None
    return program_title(name, settings=own)


@dataclass(frozen=True, slots=True)
class ConsentCell:
    text: str
    """``Allowed since 3 Dec``, ``Opted out 5 Jan``, ``Allowed``, ``Not asked``."""
    allowed: bool
    why: str


@dataclass(frozen=True, slots=True)
class ConsentRow:
    purpose: str
    cells: list[ConsentCell]


def _day(moment: datetime, zone: str | None, now: datetime) -> str:
    """``3 Dec`` (``3 Dec 2025`` in another year than ``now``'s)."""
    local = moment.astimezone(zone_info(zone))
    same_year = local.year == now.astimezone(zone_info(zone)).year
    return f"{local.day} {local:%b}" if same_year else f"{local.day} {local:%b %Y}"


@dataclass(frozen=True, slots=True)
class ConsentTable:
    channels: list[str]
    """Column heads: ``Text message``, ``Email``, ``Phone call``, ``Patient portal``."""
    rows: list[ConsentRow]


def consent_table(
    matrix: Mapping[str, Mapping[str, ConsentDecision]],
    history: Sequence[ConsentRecord],
    *,
    zone: str | None,
    now: datetime,
) -> ConsentTable:
    """The consent panel: channel names as columns, each purpose a row of sentences
    ("Allowed since 3 Dec") with the decision's reason kept for a tooltip."""
    recorded = {r.id: r.recorded_at for r in history}
    channels = list(next(iter(matrix.values()), {}))
    rows = []
    for purpose, decisions in matrix.items():
        cells = []
        for channel in channels:
            decision = decisions[channel]
            text = _consent_text(decision, recorded.get(decision.record_id or -1), zone, now)
            cells.append(ConsentCell(text, decision.allowed, decision.reason))
        rows.append(ConsentRow(_PURPOSES.get(purpose, title_from_name(purpose)), cells))
    return ConsentTable([channel_name(c) for c in channels], rows)


def _consent_text(
    decision: ConsentDecision, at: datetime | None, zone: str | None, now: datetime
) -> str:
    if decision.allowed:
        return f"Allowed since {_day(at, zone, now)}" if at else "Allowed"
    if at is not None:
        return f"Opted out {_day(at, zone, now)}"
    if decision.basis is ConsentBasis.NO_CONTACT_POINT:
        return "No address on file"
    if decision.basis is ConsentBasis.DECEASED:
        return "No (deceased)"
    return "Not asked"


_FACTORS = {
    "send_window": "sent in the {value}",
    "reading_level": "written at {a} {value} reading level",
    "tone": "in {a} {value} tone",
}


def _factor_words(factor: str, value: str) -> str:
    """One factor's value in words: sent at midday, written at an advanced reading level,
    framed around family (the engine's own words for a framing, not its code: "framed
    around social", "a advanced" and "sent in the midday" were codes put into a pattern)."""
    if factor == "framing":
        return (
            "in plain wording"
            if value == "plain"
            else f"framed around {FRAMING_WORDS.get(value, value)}"
        )
    shown = (
        window_name(value)  # the engine's own words for a window: "evening"
        if factor == "send_window"
        else value.replace("_", " ").replace("-", " ")
    )
    pattern = _FACTORS.get(factor, factor.replace("_", " ") + " {value}")
    if factor == "send_window" and (not shown.isalpha() or shown == "midday"):
        pattern = "sent at {value}"  # a window of the program's own: "07–09"
    return pattern.format(value=shown, a="an" if shown[:1] and shown[0] in "aeiou" else "a")


def learned_sentences(factors: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> list[str]:
    """What one program's replies taught the engine, as sentences: "Has answered 3 of 5 texts
    so far"; values nothing was sent with are left out (a 0 of 0 says nothing)."""
    sentences = []
    for factor, values in factors.items():
        for value, evidence in values.items():
            sent, answered = int(evidence.get("sent") or 0), int(evidence.get("responded") or 0)
            if sent <= 0:
                continue
            if factor == "channel" and value in CHANNEL_WORDS:
                what = counted(value, sent)
            else:
                what = f"{'message' if sent == 1 else 'messages'} {_factor_words(factor, value)}"
            sentences.append(f"Has answered {answered} of {sent} {what} so far.")
    return sentences


def _part_of_day(hour: int) -> str:
    if 5 <= hour < 12:
        return "morning"
    if 12 <= hour < 17:
        return "afternoon"
    if 17 <= hour < 21:
        return "evening"
    return "night"


def goes_out_at(
    due: datetime, *, now: datetime, zone: str | None, quiet: QuietHours | None
) -> datetime:
    """When a queued message to the patient really leaves: at ``due`` (or now, if that has
    passed), moved to the end of the patient's quiet hours as the worker moves it
    (``outreach.quiet_hours``); a patient without a zone is not held, as by the worker."""
    at = max(due, now)
    if not zone:
        return at
    return quiet_hours_end(at, timezone=zone, quiet=quiet or QuietHours()) or at


def queued_words(
    item: ConversationItem, *, now: datetime, zone: str | None, quiet: QuietHours | None
) -> str | None:
    """``Queued — goes out at 08:00 (patient's morning)`` for a message still waiting to go to
    the patient; None for anything sent, received or not held by quiet hours."""
    if item.direction != "out" or item.state not in PENDING_STATES:
        return None
    if item.recipient_kind != "patient" or item.transactional:
        return None
    at = goes_out_at(item.at, now=now, zone=zone, quiet=quiet)
    if at <= now:
        return "Queued — goes out now"
    # Quiet hours end within a day, so the patient's hour and part of day say when.
    local = at.astimezone(zone_info(zone))
    return f"Queued — goes out at {local:%H:%M} (patient's {_part_of_day(local.hour)})"


def language_words(code: str | None) -> str:
    """A record's language as staff read it: ``Chinese (zh)``; the code alone when unknown."""
    if not code:
        return "—"
    name = language_name(code)
    return code if name == code else f"{name} ({code})"


def counted_notes(notes: Sequence[tuple[str, str]], *, limit: int) -> list[tuple[str, str, int]]:
    """Each (message, note) once, newest first, with how many of the messages it covers: a
    daily reminder repeats the same note, and five copies of it hid every other note."""
    counts: dict[tuple[str, str], int] = {}
    for note in notes:
        counts[note] = counts.get(note, 0) + 1
    return [(message, note, count) for (message, note), count in counts.items()][:limit]
