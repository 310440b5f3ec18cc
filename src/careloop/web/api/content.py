"""HTTP API of the content domain: browse, edit (as drafts), approve, retire and preview.

Editing never changes approved words: it writes a draft version that another clinician
approves (``content:approve``); only approved versions are ever sent.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from careloop.content import approval, service
from careloop.content.compose import render_message
from careloop.content.library import VariantKey, load_library
from careloop.content.lint import lint_library, lint_variant, sample_fields
from careloop.content.vocab import Channel, ReadingLevel, Tone
from careloop.models import ContentVersion
from careloop.security.principal import Principal
from careloop.web.api.outputs import from_attributes
from careloop.web.deps import Acting, SessionDep, acting, require

router = APIRouter(prefix="/api/content", tags=["content"])
ContentReader = Annotated[Principal, Depends(require("content:read"))]
"""Who may read the library and its versions (every read endpoint here)."""


class MessageOut(BaseModel):
    name: str
    title: str
    sensitivity: str
    fields: list[str]
    grade_rule: str


class VersionOut(BaseModel):
    id: int
    message: str
    language: str
    reading_level: str
    tone: str
    channel: str
    version: int
    state: str
    content_hash: str
    source: str
    parts: dict[str, str]
    note: str | None
    created_by: str
    created_at: datetime
    approved_by: str | None
    approved_at: datetime | None
    retired_by: str | None
    retired_at: datetime | None
    retired_reason: str | None

    @classmethod
    def of(cls, row: ContentVersion) -> VersionOut:
        return from_attributes(cls, row, parts={k: str(v) for k, v in row.parts.items()})


class DraftIn(BaseModel):
    language: str = Field(min_length=2, max_length=35, examples=["es"])
    reading_level: ReadingLevel
    tone: Tone
    channel: Channel
    parts: dict[str, str] = Field(
        examples=[{"body": "Ya le toca su mamografía. Pida su cita en {{ booking_link }}."}]
    )
    note: str | None = Field(default=None, max_length=2000)


class RetireIn(BaseModel):
    reason: str = Field(min_length=3, max_length=300)


class RenderIn(BaseModel):
    message: str
    language: str = "en"
    reading_level: ReadingLevel = ReadingLevel.STANDARD
    tone: Tone = Tone.FRIENDLY
    channel: Channel = Channel.SMS
    fields: dict[str, Any] = Field(
        default_factory=dict, description="Overrides of the sample fields."
    )
    locale: str | None = None
    timezone: str | None = None
    detailed_consent: bool = False
    approved_only: bool = Field(
        default=True, description="Render from approved versions, as a send would."
    )


class RenderOut(BaseModel):
    requested: str
    used: str
    version_id: int | None
    content_hash: str
    state: str
    fallbacks: list[str]
    language_fallback: bool
    minimum_necessary: bool
    subject: str | None
    body: str
    html: str | None
    segments: int | None
    encoding: str | None


@router.get("/messages", response_model=list[MessageOut])
def list_messages(
    session: SessionDep,
    principal: ContentReader,
) -> list[MessageOut]:
    """Every message in the library, with its sensitivity and fields."""
    return [
        from_attributes(MessageOut, m, sensitivity=str(m.sensitivity), fields=list(m.fields))
        for m in service.list_messages(session)
    ]


@router.get("/messages/{message}/versions", response_model=list[VersionOut])
def list_versions(
    message: str,
    session: SessionDep,
    principal: ContentReader,
    language: Annotated[str | None, Query(max_length=35)] = None,
    state: Annotated[str | None, Query(pattern="^(draft|approved|retired)$")] = None,
) -> list[VersionOut]:
    """Versions of a message's variants, newest first."""
    service.get_message(session, message)
    rows = service.list_versions(session, message=message, language=language, state=state)
    return [VersionOut.of(r) for r in rows]


@router.post("/messages/{message}/versions", response_model=VersionOut, status_code=201)
def create_draft(
    message: str,
    body: DraftIn,
    act: Annotated[Acting, acting("content:edit")],
) -> VersionOut:
    """Write a new draft version of one variant; it is not sent until approved."""
    key = VariantKey(message, body.language, body.reading_level, body.tone, body.channel)
    row = approval.create_draft(
        act.session,
        clock=act.clock,
        message=service.get_message(act.session, message),
        key=key,
        parts=body.parts,
        actor=act.principal.actor,
        note=body.note,
    )
    return VersionOut.of(row)


@router.post("/versions/{version_id}/approve", response_model=VersionOut)
def approve_version(
    version_id: int,
    act: Annotated[Acting, acting("content:approve")],
) -> VersionOut:
    """Approve a draft (a clinician other than its author); supersedes the live version."""
    row = approval.approve(
        act.session, clock=act.clock, version_id=version_id, actor=act.principal.actor
    )
    return VersionOut.of(row)


@router.post("/versions/{version_id}/retire", response_model=VersionOut)
def retire_version(
    version_id: int,
    body: RetireIn,
    act: Annotated[Acting, acting("content:approve")],
) -> VersionOut:
    """Retire a version so it is never sent again (fallbacks then apply)."""
    row = approval.retire(
        act.session,
        clock=act.clock,
        version_id=version_id,
        actor=act.principal.actor,
        reason=body.reason,
    )
    return VersionOut.of(row)


@router.post("/render", response_model=RenderOut)
def render_preview(
    body: RenderIn,
    session: SessionDep,
    principal: ContentReader,
) -> RenderOut:
    """Preview a message with sample fields (or given ones), fallbacks and minimum necessary."""
    files = load_library()
    sample, sample_locale, sample_zone = sample_fields(files, body.language.split("-")[0])
    library = service.approved_library(session) if body.approved_only else files
    rendered = render_message(
        library,
        message=body.message,
        language=body.language,
        reading_level=body.reading_level,
        tone=body.tone,
        channel=body.channel,
        fields={**sample, **body.fields},
        locale=body.locale or sample_locale,
        timezone=body.timezone or sample_zone,
        detailed_consent=body.detailed_consent,
        require_approved=body.approved_only,
    )
    return from_attributes(
        RenderOut,
        rendered,
        requested=rendered.requested.label(),
        used=rendered.used.label(),
        state=str(rendered.state),
        fallbacks=list(rendered.fallbacks),
    )


@router.get("/versions/{version_id}/lint")
def lint_version(
    version_id: int,
    session: SessionDep,
    principal: ContentReader,
) -> dict[str, Any]:
    """The lint of one stored version (grade, SMS segments, rendering, sensitivity): what a
    clinician looks at before approving a draft."""
    row = approval.get_version(session, version_id)
    library = load_library()
    library.messages[row.message] = service.get_message(session, row.message)
    return lint_variant(library, service.variant_of(row)).as_json()


@router.get("/lint")
def lint(
    principal: ContentReader,
) -> list[dict[str, Any]]:
    """The lint of the shipped library files, one object per variant."""
    return [r.as_json() for r in lint_library(load_library())]
