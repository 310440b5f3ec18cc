"""What the portal says about a booking's confirmation: sent, or when it will come.

The confirmation is an ordinary outreach message, so it may wait for the patient's send
window or quiet hours ("the SMS is queued for 17:00"); "We sent you a confirmation" would
then be untrue. The sentence follows the outbox row: sent, or "We will text you a
confirmation at Saturday 5 December, 5:00 PM" (the patient's words and zone), or nothing
when no confirmation will come.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session

from careloop.access.sending import booked_key
from careloop.outreach.requests import request_status
from careloop.web.portal.i18n import human_time_on


def confirmation_words(
    session: Session,
    *,
    booking_id: str,
    t: Callable[..., str],
    zone: str | None,
    language: str,
) -> str:
    status = request_status(session, key=booked_key(booking_id))
    if status is None:
        return ""
    if status.sent:
        return t("confirm_sent")
    return t(f"confirm_{status.channel}", when=human_time_on(status.due_at, zone, language))
