"""Every message has a home: what minimum necessary withholds from a text or a call is
put in the portal inbox, in full, before the "log in to read it" notice goes out.

A ``clinical`` message rendered for SMS or voice is replaced whole by the generic notice
(:mod:`careloop.content.sensitivity`). Without a copy behind the login the patient would be
told to read a message that exists nowhere. The copy is an ordinary portal outbox row (the
inbox *is* the outbox, :mod:`careloop.outreach.portal_inbox`), due at once so the worker
stores it ahead of the notice, and keyed on the notice so a re-run queues it once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from careloop.content.compose import RenderedMessage
from careloop.errors import CareloopError
from careloop.outreach.outbox import NewMessage

WITHHELD_CHANNELS = ("sms", "voice")
PORTAL_TITLE = "Message from your care team"
COPY_SUFFIX = ":portal-copy"


def needs_portal_copy(notice: NewMessage, rendered: RenderedMessage) -> bool:
    """True when the patient's text or call carries only the generic notice."""
    return (
        rendered.minimum_necessary
        and notice.channel in WITHHELD_CHANNELS
        and notice.recipient_kind == "patient"
    )


def portal_copy(notice: NewMessage, *, full: RenderedMessage) -> NewMessage:
    """The full message for the patient's portal inbox, due with the notice and ahead of it."""
    return replace(
        notice,
        idempotency_key=f"{notice.idempotency_key}{COPY_SUFFIX}",
        channel="portal",
        to_address=notice.patient_id,
        body=full.body,
        subject=full.subject or PORTAL_TITLE,
        html=None,
        sender=None,
        due_at=notice.due_at,  # claimed by (due_at, id): stored before the notice is sent
        language=full.used.language,
        content_version_id=full.version_id,
        # The decision chose the notice's channel; the copy is not a second decision.
        decision_id=None,
        propensity=None,
        extra={"content_hash": full.content_hash, "withheld_from": notice.channel},
    )


def with_portal_copy(
    notice: NewMessage,
    *,
    rendered: RenderedMessage,
    render_portal: Callable[[], RenderedMessage],
) -> list[NewMessage]:
    """The copy first, then the notice; the notice alone when nothing was withheld.

    If the full text cannot be rendered the notice is not sent either: a notice pointing at
    an empty inbox is the failure this module exists to prevent.
    """
    if not needs_portal_copy(notice, rendered):
        return [notice]
    try:
        full = render_portal()
    except CareloopError:
        return []
    return [portal_copy(notice, full=full), notice]
