"""Approval and versioning on both databases: only approved words are sent, every change is a
new version, and a send knows the exact version it used."""

from __future__ import annotations

from dataclasses import replace

import pytest
from content_helpers import subset
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from careloop.content import approval, service
from careloop.content.library import Library, VariantKey
from careloop.content.vocab import Channel, ReadingLevel, Tone
from careloop.errors import Conflict, InvalidInput, PermissionDenied
from careloop.events import list_events
from careloop.models import ContentVersion
from careloop.runtime import Runtime

SMS = VariantKey("mammogram_due", "en", ReadingLevel.BASIC, Tone.FRIENDLY, Channel.SMS)


@pytest.fixture(scope="module")
def small(shipped: Library) -> Library:
    return subset(shipped, keep={"care_team_message", "mammogram_due"})


def _send(rt: Runtime, fields: dict[str, object], **options: object):  # type: ignore[no-untyped-def]
    request: dict[str, object] = {
        "message": "mammogram_due",
        "language": "en",
        "reading_level": "basic",
        "tone": "friendly",
        "channel": "sms",
        "fields": fields,
        "locale": "en_US",
        "timezone": "America/New_York",
        "detailed_consent": True,
    }
    request.update(options)
    with rt.transaction() as session:
        return service.render_for_sending(session, **request)  # type: ignore[arg-type]


def _sync(rt: Runtime, library: Library) -> service.SyncReport:
    with rt.transaction() as session:
        return service.sync_library(session, library=library, clock=rt.clock)


def _draft(rt: Runtime, body: str, *, actor: str = "user:coordinator-ana") -> int:
    with rt.transaction() as session:
        row = approval.create_draft(
            session,
            clock=rt.clock,
            message=service.get_message(session, "mammogram_due"),
            key=SMS,
            parts={"body": body},
            actor=actor,
        )
        return row.id


def test_sync_imports_shipped_content_as_approved_and_is_idempotent(
    rt: Runtime, small: Library
) -> None:
    first = _sync(rt, small)
    second = _sync(rt, small)
    # 2 messages x 24 forms in en, es, pt (approved as the files say) and zh (drafts: no
    # grade formula, a person approves them).
    assert (first.created, first.approved, first.drafted) == (192, 144, 48)
    assert (second.created, second.unchanged) == (0, 192)
    with rt.transaction() as session:
        rows = session.scalars(select(ContentVersion)).all()
    assert len(rows) == 192
    assert {(r.language, r.state, r.approved_by, r.version) for r in rows} == {
        ("en", "approved", "careloop-clinical-review", 1),
        ("es", "approved", "careloop-clinical-review", 1),
        ("pt", "approved", "careloop-translation-review", 1),
        ("zh", "draft", None, 1),
    }
    assert {r.approved_at.date().isoformat() for r in rows if r.language in ("en", "es")} == {
        "2026-11-23"
    }


def test_a_send_records_the_exact_version_it_used(
    rt: Runtime, small: Library, fields: dict[str, object]
) -> None:
    _sync(rt, small)
    rendered = _send(rt, fields)
    with rt.transaction() as session:
        row = session.get(ContentVersion, rendered.version_id)
        assert row is not None
        assert approval.key_of(row) == SMS
        assert row.content_hash == rendered.content_hash
    assert rendered.state == "approved"


def test_an_edit_is_a_draft_that_is_not_sent_until_another_clinician_approves(
    rt: Runtime, small: Library, fields: dict[str, object]
) -> None:
    _sync(rt, small)
    live = _send(rt, fields)
    draft_id = _draft(rt, "Your mammogram is due. Book at {{ booking_link }}.")
    assert _send(rt, fields).version_id == live.version_id
    with rt.transaction() as session, pytest.raises(PermissionDenied):
        approval.approve(session, clock=rt.clock, version_id=draft_id, actor="user:coordinator-ana")
    with rt.transaction() as session:
        approved = approval.approve(
            session, clock=rt.clock, version_id=draft_id, actor="user:clinician-bo"
        )
        assert (approved.version, approved.approved_by) == (2, "user:clinician-bo")
        previous = session.get(ContentVersion, live.version_id)
        assert previous is not None
        assert previous.state == "retired"
        assert previous.retired_reason == "superseded by version 2"
    after = _send(rt, fields)
    assert after.version_id == draft_id
    assert after.body == "Your mammogram is due. Book at https://rvcl.org/book."  # whole text


def test_a_retired_version_is_never_sent_and_the_fallback_applies(
    rt: Runtime, small: Library, fields: dict[str, object]
) -> None:
    _sync(rt, small)
    live = _send(rt, fields)
    with rt.transaction() as session:
        approval.retire(
            session,
            clock=rt.clock,
            version_id=live.version_id or 0,
            actor="user:clinician-bo",
            reason="wording under review",
        )
    rendered = _send(rt, fields)
    assert rendered.used == replace(SMS, tone=Tone.FORMAL)
    assert rendered.fallbacks == ("tone",)


def test_transitions_outside_the_lifecycle_are_refused(rt: Runtime, small: Library) -> None:
    _sync(rt, small)
    draft_id = _draft(rt, "Mammogram due: {{ booking_link }}")
    with rt.transaction() as session:
        with pytest.raises(InvalidInput):
            approval.retire(session, clock=rt.clock, version_id=draft_id, actor="x", reason=" ")
        approval.retire(session, clock=rt.clock, version_id=draft_id, actor="x", reason="typo")
    with rt.transaction() as session, pytest.raises(Conflict):
        approval.approve(session, clock=rt.clock, version_id=draft_id, actor="user:clinician-bo")
    with rt.transaction() as session, pytest.raises(Conflict):
        approval.retire(session, clock=rt.clock, version_id=draft_id, actor="x", reason="again")


def test_a_draft_is_checked_before_it_is_stored(rt: Runtime, small: Library) -> None:
    _sync(rt, small)
    with pytest.raises(InvalidInput) as caught:
        _draft(rt, "Your results: {{ diagnosis }}")
    assert caught.value.field == "parts.body"
    with pytest.raises(InvalidInput):
        _draft(rt, "Appointment {{ appointment_at }}")  # allowed field, not declared
    with pytest.raises(Conflict):
        _draft(rt, small.variants[SMS].parts["body"])  # exactly the live text


def test_the_database_holds_one_approved_version_per_variant(rt: Runtime, small: Library) -> None:
    _sync(rt, small)
    draft_id = _draft(rt, "Mammogram due: {{ booking_link }}")
    with rt.transaction() as session:
        row = session.get(ContentVersion, draft_id)
        assert row is not None
        row.state = "approved"  # bypassing approve(): the unique index still refuses
        with pytest.raises(IntegrityError):
            session.flush()
        session.rollback()


def test_a_new_shipped_text_does_not_override_a_site_edit(
    rt: Runtime, small: Library, fields: dict[str, object]
) -> None:
    _sync(rt, small)
    site_id = _draft(rt, "Mammogram time! {{ booking_link }}")
    with rt.transaction() as session:
        approval.approve(session, clock=rt.clock, version_id=site_id, actor="user:clinician-bo")
    upgraded = subset(small, keep=set(small.messages))
    upgraded.variants[SMS] = replace(
        small.variants[SMS], parts={"body": "Hi {{ first_name }}! New shipped words."}
    )
    report = _sync(rt, upgraded)
    assert (report.created, report.drafted, report.held_for_review) == (1, 1, [SMS.label()])
    assert _send(rt, fields).version_id == site_id


def test_every_transition_is_in_the_event_log(rt: Runtime, small: Library) -> None:
    _sync(rt, small)
    draft_id = _draft(rt, "Mammogram due: {{ booking_link }}")
    with rt.transaction() as session:
        approval.approve(session, clock=rt.clock, version_id=draft_id, actor="user:clinician-bo")
        approval.retire(
            session, clock=rt.clock, version_id=draft_id, actor="user:clinician-bo", reason="old"
        )
    with rt.transaction() as session:
        events = list_events(
            session, kinds=["content_drafted", "content_approved", "content_retired"]
        )
        kinds = [(e.kind, e.actor, e.subject_id) for e in events if e.subject_id == str(draft_id)]
    assert kinds == [
        ("content_drafted", "user:coordinator-ana", str(draft_id)),
        ("content_approved", "user:clinician-bo", str(draft_id)),
        ("content_retired", "user:clinician-bo", str(draft_id)),
    ]


def test_the_whole_shipped_library_imports_once(rt: Runtime, shipped: Library) -> None:
    first = _sync(rt, shipped)
    second = _sync(rt, shipped)
    drafts = [v for v in shipped.variants.values() if v.state != "approved"]
    assert {v.key.language for v in drafts} == {"zh"}
    assert first.created == first.approved + len(drafts) == len(shipped.variants)
    assert (second.created, second.unchanged) == (0, len(shipped.variants))
    with rt.transaction() as session:
        events = list_events(session, kinds=["content_synced"])
    assert len(events) == 1
