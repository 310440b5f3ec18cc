"""Approval of clinical content: every change is a new version; only approved ones are sent.

Lifecycle of one version (``content_versions`` row)::

    draft ──approve──▶ approved ──retire──▶ retired
      │                    ▲
      └──────retire────────┼──────────────▶ retired
                           │
    approving a draft retires the variant's previously approved version ("superseded")

- Words never change in place: editing is ``create_draft`` (version N+1); the row's
  ``parts`` and ``content_hash`` are fixed once written.
- A clinician approves; the approver is never the author of the draft (four eyes).
- At most one approved version per variant (also a unique partial index in the database).
- Transitions happen only through :func:`approve` and :func:`retire`; each is recorded with
  who and when, on the row and in the event log. Services flush; the edge commits.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from careloop.clock import Clock
from careloop.content.library import Message, VariantKey, content_hash
from careloop.content.render import ALLOWED_FIELDS, check_template_renders, template_fields
from careloop.content.vocab import CHANNEL_PARTS, ApprovalState, Channel, ReadingLevel, Tone
from careloop.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from careloop.events import EventKind, record_event
from careloop.models import ContentMessage, ContentVersion

# (state, transition) → next state. Anything else is refused.
TRANSITIONS: dict[tuple[ApprovalState, str], ApprovalState] = {
    (ApprovalState.DRAFT, "approve"): ApprovalState.APPROVED,
    (ApprovalState.DRAFT, "retire"): ApprovalState.RETIRED,
    (ApprovalState.APPROVED, "retire"): ApprovalState.RETIRED,
}


def _next_state(row: ContentVersion, transition: str) -> ApprovalState:
    state = ApprovalState(row.state)
    target = TRANSITIONS.get((state, transition))
    if target is None:
        raise Conflict(f"version {row.id} is {state}: cannot {transition}")
    return target


def key_of(row: ContentVersion) -> VariantKey:
    return VariantKey(
        row.message,
        row.language,
        ReadingLevel(row.reading_level),
        Tone(row.tone),
        Channel(row.channel),
    )


def check_parts(
    *, message: Message, key: VariantKey, parts: Mapping[str, object]
) -> dict[str, str]:
    """The parts a channel form needs, each a template that compiles and uses known fields."""
    expected = set(CHANNEL_PARTS[key.channel])
    if set(parts) != expected:
        raise InvalidInput(
            f"a {key.channel} variant has exactly these parts: {', '.join(sorted(expected))}",
            field="parts",
        )
    clean: dict[str, str] = {}
    for name, source in parts.items():
        if not isinstance(source, str) or not source.strip():
            raise InvalidInput(f"part {name} must be non-empty text", field=f"parts.{name}")
        used = template_fields(source)
        unknown = sorted(used - set(ALLOWED_FIELDS))
        if unknown:
            raise InvalidInput(f"part {name} uses unknown fields: {unknown}", field=f"parts.{name}")
        undeclared = sorted(used - set(message.fields))
        if undeclared:
            raise InvalidInput(
                f"part {name} uses fields the message does not declare: {undeclared}",
                field=f"parts.{name}",
            )
        try:
            check_template_renders(source)
        except InvalidInput as exc:
            raise InvalidInput(f"part {name}: {exc}", field=f"parts.{name}") from None
        clean[name] = source.strip()
    return clean


def _next_version(session: Session, key: VariantKey) -> int:
    current = session.scalar(select(func.max(ContentVersion.version)).where(*_key_filter(key)))
    return int(current or 0) + 1


def _key_filter(key: VariantKey) -> tuple[ColumnElement[bool], ...]:
    return (
        ContentVersion.message == key.message,
        ContentVersion.language == key.language,
        ContentVersion.reading_level == str(key.reading_level),
        ContentVersion.tone == str(key.tone),
        ContentVersion.channel == str(key.channel),
    )


def versions_of(session: Session, key: VariantKey) -> list[ContentVersion]:
    """Every version of one variant, oldest first."""
    return list(
        session.scalars(
            select(ContentVersion).where(*_key_filter(key)).order_by(ContentVersion.version)
        )
    )


def current_approved(session: Session, key: VariantKey) -> ContentVersion | None:
    return session.scalar(
        select(ContentVersion).where(
            *_key_filter(key), ContentVersion.state == str(ApprovalState.APPROVED)
        )
    )


def add_version(
    session: Session,
    *,
    clock: Clock,
    key: VariantKey,
    parts: Mapping[str, str],
    actor: str,
    source: str,
    note: str | None = None,
) -> ContentVersion:
    """Write version N+1 of a variant as a draft (words fixed from here on)."""
    if session.get(ContentMessage, key.message) is None:
        raise NotFound(f"no message {key.message!r} in the library")
    row = ContentVersion(
        **key.columns(),
        version=_next_version(session, key),
        content_hash=content_hash(key, parts),
        parts=dict(parts),
        state=str(ApprovalState.DRAFT),
        source=source,
        note=note,
        created_by=actor,
        created_at=clock.now(),
    )
    session.add(row)
    session.flush()
    return row


def create_draft(
    session: Session,
    *,
    clock: Clock,
    message: Message,
    key: VariantKey,
    parts: Mapping[str, object],
    actor: str,
    note: str | None = None,
) -> ContentVersion:
    """A staff edit: a new draft version of one variant, checked before it is stored."""
    clean = check_parts(message=message, key=key, parts=parts)
    digest = content_hash(key, clean)
    for existing in versions_of(session, key):
        if existing.content_hash == digest and existing.state != ApprovalState.RETIRED:
            raise Conflict(
                f"version {existing.version} of this variant already has exactly this text"
            )
    row = add_version(
        session, clock=clock, key=key, parts=clean, actor=actor, source="api", note=note
    )
    _version_event(session, EventKind.CONTENT_DRAFTED, row, clock=clock, actor=actor)
    return row


def get_version(session: Session, version_id: int) -> ContentVersion:
    row = session.get(ContentVersion, version_id)
    if row is None:
        raise NotFound(f"no content version {version_id}")
    return row


def approve(
    session: Session,
    *,
    clock: Clock,
    version_id: int,
    actor: str,
    approved_at: datetime | None = None,
) -> ContentVersion:
    """draft → approved; the variant's previously approved version is retired (superseded).

    ``approved_at`` defaults to now; the library import passes the review date of the file.
    """
    row = get_version(session, version_id)
    target = _next_state(row, "approve")
    if row.created_by == actor:
        raise PermissionDenied("the author of a draft cannot approve it: ask another clinician")
    previous = current_approved(session, key_of(row))
    now = clock.now()
    if previous is not None:
        retire_superseded(previous, actor=actor, now=now, version=row.version)
        session.flush()  # free the "one approved per variant" slot before taking it
    row.state = str(target)
    row.approved_by = actor
    row.approved_at = approved_at or now
    session.flush()
    _version_event(
        session,
        EventKind.CONTENT_APPROVED,
        row,
        clock=clock,
        actor=actor,
        superseded=previous.id if previous is not None else None,
    )
    return row


def retire_superseded(row: ContentVersion, *, actor: str, now: datetime, version: int) -> None:
    """approved → retired because version ``version`` of the same variant replaces it."""
    _next_state(row, "retire")
    _retire_row(row, actor=actor, now=now, reason=f"superseded by version {version}")


def _retire_row(row: ContentVersion, *, actor: str, now: datetime, reason: str) -> None:
    row.state = str(ApprovalState.RETIRED)
    row.retired_by = actor
    row.retired_at = now
    row.retired_reason = reason[:300]


def retire(
    session: Session, *, clock: Clock, version_id: int, actor: str, reason: str
) -> ContentVersion:
    """draft or approved → retired. A retired variant is no longer sent; fallbacks apply."""
    if not reason.strip():
        raise InvalidInput("say why the version is retired", field="reason")
    row = get_version(session, version_id)
    _next_state(row, "retire")
    _retire_row(row, actor=actor, now=clock.now(), reason=reason.strip())
    session.flush()
    _version_event(session, EventKind.CONTENT_RETIRED, row, clock=clock, actor=actor, reason=reason)
    return row


def _version_event(
    session: Session,
    kind: EventKind,
    row: ContentVersion,
    *,
    clock: Clock,
    actor: str,
    **more: object,
) -> None:
    """A version's lifecycle step in the event log, naming its variant and version."""
    record_event(
        session,
        kind=kind,
        clock=clock,
        actor=actor,
        subject_type="content_version",
        subject_id=str(row.id),
        payload={"variant": key_of(row).label(), "version": row.version, **more},
    )
