"""What a reminder call says when it is answered: the TwiML for one outbox message.

The worker places voice calls with an answer URL (``/webhooks/twilio/voice/answer?m=<id>``)
and answering-machine detection; when Twilio fetches it, this module reads the message's row
and renders the approved, rendered script in the patient's language for a person, or only the
voicemail-safe line for a machine (:func:`careloop.channels.voice_twilio.render_call_twiml`).
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from careloop.channels.messages import ChannelKind, OutboundMessage, VoiceParts
from careloop.channels.voice_twilio import render_call_twiml
from careloop.errors import NotFound
from careloop.models import OutboxMessage


def voice_parts(*, message_id: int, base_url: str, voicemail_text: str) -> VoiceParts:
    base = base_url.rstrip("/")
    return VoiceParts(
        voicemail_text=voicemail_text,
        gather_action_url=f"{base}/webhooks/twilio/voice/gather?m={message_id}",
        answer_url=f"{base}/webhooks/twilio/voice/answer?m={message_id}",
    )


def call_twiml(session: Session, *, message_id: int, answered_by: str | None, base_url: str) -> str:
    """The TwiML for the call placed for ``message_id``, for whoever (or whatever) answered."""
    row = session.get(OutboxMessage, message_id)
    if row is None or row.channel != str(ChannelKind.VOICE):
        raise NotFound("no such call")
    message = OutboundMessage(
        channel=ChannelKind.VOICE,
        to=row.to_address,
        body=row.body,
        idempotency_key=row.idempotency_key,
        sender=row.sender,
        language=row.language,
        voice=voice_parts(
            message_id=row.id,
            base_url=base_url,
            voicemail_text=str((row.extra or {}).get("voicemail_text") or ""),
        ),
    )
    return render_call_twiml(message, answered_by=answered_by)
