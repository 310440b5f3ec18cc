"""Content services other domains call: import the library, load what is approved, render.

Outreach renders a send with :func:`render_for_sending` (or loads :func:`approved_library`
once per batch and calls ``compose.render_message(..., require_approved=True)``); the
result's ``version_id`` is the exact ``content_versions`` row to record with the send.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from typing import Unpack

import orjson
from sqlalchemy import Text, select
from sqlalchemy import cast as cast_sql
from sqlalchemy.orm import Session

from careloop.clock import Clock
from careloop.content.approval import key_of, retire_superseded
from careloop.content.compose import (
    RenderedMessage,
    RenderRequest,
    primary_language,
    render_message,
)
from careloop.content.library import Library, Message, Variant, VariantKey, library_from_versions
from careloop.content.vocab import ApprovalState, Channel, ReadingLevel, Sensitivity, Tone
from careloop.errors import InvalidInput, NotFound
from careloop.events import EventKind, record_event
from careloop.models import ContentMessage, ContentVersion
from careloop.queryfilters import where_given

LIBRARY_ACTOR = "careloop-library-sync"


@dataclass
class SyncReport:
    """What :func:`sync_library` did; all zeros but ``unchanged`` on a second run."""

    messages_created: int = 0
    messages_updated: int = 0
    created: int = 0
    approved: int = 0
    drafted: int = 0
    unchanged: int = 0
    held_for_review: list[str] = field(default_factory=list)


def sync_library(
    session: Session, *, library: Library, clock: Clock, actor: str = LIBRARY_ACTOR
) -> SyncReport:
    """Import the files' variants as versions; idempotent (same text → nothing written).

    A variant whose text is new becomes version N+1 in the state its file declares: shipped
    content is approved by the reviewer named in the file ("careloop-clinical-review"), and
    supersedes the variant's previous approved version. Exception: when that live version was
    edited at this site (through the API), new shipped text is stored as a draft for a
    clinician instead of overriding it. A text that exists in any state (even retired) is not
    re-imported: retiring shipped text is a decision that a later sync must not undo.

    Imported versions carry who approved them and when on their rows; the event log gets one
    ``content_synced`` summary rather than hundreds of per-version events.
    """
    report = SyncReport()
    now = clock.now()
    for message in library.messages.values():
        _upsert_message(session, message=message, now=now, report=report)
    session.flush()
    existing: dict[VariantKey, list[ContentVersion]] = defaultdict(list)
    query = select(ContentVersion).where(ContentVersion.message.in_(list(library.messages)))
    for row in session.scalars(query):
        existing[key_of(row)].append(row)
    for key in sorted(library.variants):
        variant = library.variants[key]
        digest = variant.content_hash
        rows = existing[key]
        if any(row.content_hash == digest for row in rows):
            report.unchanged += 1
            continue
        state, approved_by, approved_on = library.source_approval.get(
            f"{key.message}/{key.language}", (ApprovalState.DRAFT, None, None)
        )
        live = next((r for r in rows if r.state == ApprovalState.APPROVED), None)
        site_edit = live is not None and live.source == "api"
        row = ContentVersion(
            **key.columns(),
            version=max((r.version for r in rows), default=0) + 1,
            content_hash=digest,
            parts=dict(variant.parts),
            state=str(ApprovalState.DRAFT),
            source="library",
            note="imported from the shipped message library",
            created_by=actor,
            created_at=now,
        )
        report.created += 1
        if state is ApprovalState.APPROVED and approved_by and not site_edit:
            if live is not None:
                retire_superseded(live, actor=approved_by, now=now, version=row.version)
                session.flush()  # free the "one approved per variant" slot first
            row.state = str(ApprovalState.APPROVED)
            row.approved_by = approved_by
            row.approved_at = (
                datetime.combine(approved_on, time(0), tzinfo=UTC) if approved_on else now
            )
            report.approved += 1
        else:
            report.drafted += 1
            if site_edit:
                report.held_for_review.append(key.label())
        session.add(row)
        rows.append(row)
    session.flush()
    if report.created or report.messages_created or report.messages_updated:
        record_event(
            session,
            kind=EventKind.CONTENT_SYNCED,
            clock=clock,
            actor=actor,
            subject_type="content_library",
            payload={
                "created": report.created,
                "approved": report.approved,
                "drafted": report.drafted,
                "unchanged": report.unchanged,
                "held_for_review": report.held_for_review,
            },
        )
    return report


def _upsert_message(
    session: Session, *, message: Message, now: datetime, report: SyncReport
) -> None:
    """Create or update one message's row (sensitivity, fields, grade rule)."""
    wanted: dict[str, object] = {
        "title": message.title,
        "sensitivity": str(message.sensitivity),
        "fields": list(message.fields),
        "grade_rule": message.grade_rule,
        "framing_of": message.framing_of,
        "framing": message.framing,
    }
    row = session.get(ContentMessage, message.name)
    if row is None:
        session.add(ContentMessage(name=message.name, updated_at=now, **wanted))
        report.messages_created += 1
        return
    changed = {k: v for k, v in wanted.items() if getattr(row, k) != v}
    if changed:
        for column, value in changed.items():
            setattr(row, column, value)
        row.updated_at = now
        report.messages_updated += 1


def message_of(row: ContentMessage) -> Message:
    return Message(
        name=row.name,
        title=row.title,
        sensitivity=Sensitivity(row.sensitivity),
        fields=tuple(row.fields),
        grade_rule=row.grade_rule,
        framing_of=row.framing_of,
        framing=row.framing,
    )


def get_message(session: Session, name: str) -> Message:
    row = session.get(ContentMessage, name)
    if row is None:
        raise NotFound(f"no message {name!r}")
    return message_of(row)


def list_messages(session: Session) -> list[Message]:
    return [
        message_of(r) for r in session.scalars(select(ContentMessage).order_by(ContentMessage.name))
    ]


def variant_of(row: ContentVersion) -> Variant:
    return Variant(
        key=key_of(row),
        parts=dict(row.parts),
        state=ApprovalState(row.state),
        version_id=row.id,
        version=row.version,
        approved_by=row.approved_by,
        approved_at=row.approved_at,
    )


def require_approved_content(session: Session) -> None:
    """Refuse (``InvalidInput``) when no version is approved at all: a fresh database before
    ``careloop content sync``, where every decided step would be consumed with no message."""
    if (
        session.scalar(
            select(ContentVersion.id)
            .where(ContentVersion.state == str(ApprovalState.APPROVED))
            .limit(1)
        )
        is None
    ):
        raise InvalidInput(
            "no approved message content in this database, so no decided step could be "
            "queued: run `careloop content sync` (the shipped library, approved) first",
            field="content",
        )


def approved_library(session: Session, *, samples: Mapping[str, object] | None = None) -> Library:
    """Every approved version, as a library to render sends from (load once per batch).

    The scheduler asks on every tick; building ~1,600 ORM rows into variants each time was a
    tenth of the demo's pilot. The approved rows are read as plain columns (the text as
    stored) and the library built from them is kept while those columns are unchanged, so a
    new approval, a retirement or another database is always seen. Callers only read it.

    Languages with words still waiting for review (e.g. a new translation, all drafts) are
    named in ``awaiting_review``, so a send in such a language falls back to English saying
    why (``language_unapproved``), not as if the language did not exist.
    """
    messages = tuple(list_messages(session))
    rows = tuple(
        tuple(row)
        for row in session.execute(
            select(*_VARIANT_COLUMNS)
            .where(ContentVersion.state == str(ApprovalState.APPROVED))
            .order_by(ContentVersion.id)
        )
    )
    waiting = tuple(
        session.scalars(
            select(ContentVersion.language)
            .where(ContentVersion.state == str(ApprovalState.DRAFT))
            .distinct()
            .order_by(ContentVersion.language)
        )
    )
    key = (messages, rows, waiting)
    last = _APPROVED.get("last")
    if not samples and last is not None and last[0] == key:
        return last[1]
    variants = [
        Variant(
            key=VariantKey(message, language, ReadingLevel(level), Tone(tone), Channel(channel)),
            parts=orjson.loads(parts),
            state=ApprovalState.APPROVED,
            version_id=version_id,
            version=version,
            approved_by=approved_by,
            approved_at=approved_at,
        )
        for version_id, message, language, level, tone, channel, version, approved_by, approved_at,
        parts in rows
    ]  # fmt: skip
    library = library_from_versions(
        messages=messages, variants=variants, samples=dict(samples or {})
    )
    library.awaiting_review.update(waiting)
    if not samples:
        _APPROVED["last"] = (key, library)  # one assignment: threads see a matching pair
    return library


_VARIANT_COLUMNS = (
    ContentVersion.id, ContentVersion.message, ContentVersion.language,
    ContentVersion.reading_level, ContentVersion.tone, ContentVersion.channel,
    ContentVersion.version, ContentVersion.approved_by, ContentVersion.approved_at,
    cast_sql(ContentVersion.parts, Text),
)  # fmt: skip
_APPROVED: dict[str, tuple[object, Library]] = {}  # the last library built, and its key


def render_for_sending(
    session: Session,
    *,
    library: Library | None = None,
    framing: str | None = None,
    **request: Unpack[RenderRequest],
) -> RenderedMessage:
    """Render from approved versions only; refuses (NotApproved) when none can carry it.

    ``framing`` (the engine's choice) picks the framed message where the patient's language
    has one."""
    library = library or approved_library(session)
    language = primary_language(request["language"])
    request["message"] = library.framed(request["message"], framing, language)
    return render_message(library, require_approved=True, **request)


def list_versions(
    session: Session,
    *,
    message: str,
    language: str | None = None,
    state: str | None = None,
    limit: int = 500,
) -> Sequence[ContentVersion]:
    """Versions of a message's variants, newest first."""
    query = where_given(
        select(ContentVersion).where(ContentVersion.message == message),
        (ContentVersion.language, language),
        (ContentVersion.state, state),
    )
    query = query.order_by(
        ContentVersion.language,
        ContentVersion.reading_level,
        ContentVersion.tone,
        ContentVersion.channel,
        ContentVersion.version.desc(),
    ).limit(limit)
    return session.scalars(query).all()
