"""The channel's view of a claimed outbox row: addresses, text and each channel's parts."""

from __future__ import annotations

from careloop.channels.messages import ChannelKind, EmailParts, OutboundMessage, PortalParts
from careloop.outreach.claims import Claimed


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
