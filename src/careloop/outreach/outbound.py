"""The channel's view of a claimed outbox row: addresses, text and each channel's parts."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace

from sqlalchemy import update
from sqlalchemy.orm import Session

from careloop.channels.messages import ChannelKind, EmailParts, OutboundMessage, PortalParts
from careloop.channels.registry import ChannelRegistry
from careloop.db import any_of
from careloop.models import OutboxMessage
from careloop.outreach.claims import Claimed


def send_from_now(
    session: Session, claimed: Sequence[Claimed], *, channels: ChannelRegistry
) -> list[Claimed]:
    """``claimed`` with each text's sender as configured now (in the claim's transaction).

    A row keeps the sender chosen when it was queued; one the operator has since replaced
    (the demo's number, a number given up) goes from the default sender configured now, as
    email's From does, instead of being dead-lettered ``misconfigured``. The row is updated
    too, so its pacing key, a reconciliation after a crash and the record all name the
    number the gateway was given. Nothing is written when every sender is still configured.
    """
    moved: dict[str | None, list[int]] = defaultdict(list)
    out: list[Claimed] = []
    kinds = {str(kind): kind for kind in channels.kinds}
    for message in claimed:
        kind = kinds.get(message.channel)
        sender = message.sender if kind is None else channels.sender_now(kind, message.sender)
        if sender != message.sender:
            moved[sender].append(message.id)
            message = replace(message, sender=sender)
        out.append(message)
    for sender, ids in moved.items():
        session.execute(
            update(OutboxMessage)
            .where(any_of(session, OutboxMessage.id, ids))
            .values(sender=sender)
            .execution_options(synchronize_session=False)
        )
    return out


def outbound_message(
    message: Claimed, *, base_url: str, unsubscribe_url: str | None
) -> OutboundMessage:
    """What the adapter gets for ``message``; status callbacks find the row by its id."""
    channel = ChannelKind(message.channel)
    base = base_url.rstrip("/")
    email = voice = portal = None
    callback = None
    if channel is ChannelKind.EMAIL:
        email = EmailParts(
            subject=message.subject or "",
            html=message.html,
            unsubscribe_url=unsubscribe_url or "",
        )
    elif channel is ChannelKind.VOICE:
        # Imported for a call only: the call's parts pull in TwiML, the content library's
        # words and YAML, which a worker sending texts and email never needs (its start-up
        # after a crash is that much shorter).
        from careloop.outreach.voice_calls import voice_parts

        # With an answer URL the call uses answering-machine detection and speaks the
        # rendered script (voice_calls.call_twiml), not only the voicemail line.
        voice = voice_parts(
            message_id=message.id,
            base_url=base,
            voicemail_text=str(message.extra.get("voicemail_text") or ""),
            language=message.language,
        )
        callback = f"{base}/webhooks/twilio/status?m={message.id}&kind=call"
    elif channel is ChannelKind.PORTAL:
        portal = PortalParts(title=message.subject or "Message from your care team")
    else:
        callback = f"{base}/webhooks/twilio/status?m={message.id}"
    return OutboundMessage(
        channel=channel,
        to=message.to_address,
        body=message.body,
        idempotency_key=message.idempotency_key,
        # Email goes from ``channels.email.from_address`` as configured now (rows queued
        # before ``default_sender`` stopped naming it may still carry an old one).
        sender=None if channel is ChannelKind.EMAIL else message.sender,
        status_callback_url=callback,
        language=message.language,
        email=email,
        voice=voice,
        portal=portal,
    )
