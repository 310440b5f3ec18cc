"""Who holds a worklist item, in words, and to whom it may be handed.

An item is held by a person (``user:<id>``, set when someone acknowledges or is assigned
it), by a team lead's queue (``lead:<team>``, set when an unassigned item escalates: the
escalation notifies that lead, who then hands it on) or by a name someone typed through the
API. Staff read names, never ``user:7``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from careloop.models import User
from careloop.security.roles import PERMISSIONS
from careloop.settings import in_sentence, title_from_name

LEAD = "lead:"
DEFAULT_TEAM = "care-team"


def escalation_target(team: str | None) -> str:
    """Who an overdue item escalates to: its team's lead (the care team's lead without one)."""
    return f"{LEAD}{team or DEFAULT_TEAM}"


def is_lead_queue(assignee: str | None) -> bool:
    """A lead's queue holds an item until a person takes it (acknowledging it does)."""
    return bool(assignee and assignee.startswith(LEAD))


@dataclass(frozen=True)
class Assignable:
    value: str
    label: str


def writers(session: Session) -> list[User]:
    """The active worklist writers: read once by a page and passed to the two below."""
    roles = [str(r) for r, granted in PERMISSIONS.items() if "worklist:write" in granted]
    query = select(User).where(User.active.is_(True), User.role.in_(roles)).order_by(User.id)
    return list(session.scalars(query))


def staff_names(session: Session, *, among: list[User] | None = None) -> dict[str, str]:
    """``user:<id>`` → the name staff know them by, for every active worklist writer."""
    found = writers(session) if among is None else among
    return {f"user:{u.id}": u.display_name or u.username for u in found}


TeamTitle = Callable[[str], str]
"""A team's name as staff read it (``Settings.team_title``); the slug when none is given."""


def in_words(assignee: str | None, names: dict[str, str], *, teams: TeamTitle = str) -> str:
    """``the care coordination lead``, ``Dr. Demo Clinician``, or ``unassigned`` (words that
    stand inside a sentence: "with the care coordination lead", "escalated to ...")."""
    if not assignee:
        return "unassigned"
    if is_lead_queue(assignee):
        team = assignee.removeprefix(LEAD)
        title = teams(team)
        # Only a title that is the slug in words comes down: a title the site wrote may
        # start with a name ("Spanish interpreters", "Boston Children's") or be in Title
        # Case ("Oncology Nursing"), which careloop cannot tell apart from a heading's capital.
        return f"the {in_sentence(title) if title == title_from_name(team) else title} lead"
    return names.get(assignee, assignee)


def assignable(
    session: Session,
    *,
    team: str | None,
    among: list[User] | None = None,
    teams: TeamTitle = str,
) -> list[Assignable]:
    """The team's lead queue, then the worklist writers of the item's team (every writer when
    the team has none, so an item is never left with nobody to give it to)."""
    found = writers(session) if among is None else among
    in_team = [u for u in found if team and team in (u.teams or [])]
    lead = escalation_target(team)
    return [
        Assignable(lead, in_words(lead, {}, teams=teams)),
        *(Assignable(f"user:{u.id}", u.display_name or u.username) for u in in_team or found),
    ]
