"""Delivering portal sign-in codes over the configured SMS and email adapters.

With the fake providers (the default of a fresh installation, and of the demo) nothing can
reach a phone, so the code is shown on the server's terminal instead, with the contact
point masked: the operator of a demo can then sign in to the portal as a sample patient.

The message is the patient's words (``portal_code_*`` in ``content/conversation/<lang>.yaml``,
English for a language we have none in), and the minimum necessary: the code and how long it
lasts, no name and no clinic, since a phone's lock screen or a shared mailbox shows it.
"""

from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass

from careloop.channels.messages import ChannelKind, EmailParts, OutboundMessage
from careloop.channels.registry import ChannelRegistry
from careloop.content.conversation_words import conversation_words
from careloop.errors import InvalidInput


def _masked(address: str) -> str:
    return f"…{address[-4:]}" if len(address) > 4 else "…"


@dataclass
class ChannelCodeSender:
    """A ``CodeSender`` over the channel registry (``governance.portal.CodeSender``)."""

    registry: ChannelRegistry
    public_base_url: str
    echo_to_terminal: bool

    def send_code(
        self, *, channel: str, to: str, code: str, expires_minutes: int, language: str = "en"
    ) -> None:
        words = conversation_words(language)
        text = words["portal_code_text"].format(code=code, minutes=expires_minutes)
        if self.echo_to_terminal:
            sys.stderr.write(f"portal sign-in code for {channel} {_masked(to)}: {code}\n")
            return
        key = hashlib.sha256(f"otp:{channel}:{to}:{code}".encode()).hexdigest()
        if channel in ("sms", "phone"):
            message = OutboundMessage(
                channel=ChannelKind.SMS, to=to, body=text, idempotency_key=key, language=language
            )
        elif channel == "email":
            message = OutboundMessage(
                channel=ChannelKind.EMAIL,
                to=to,
                body=text,
                idempotency_key=key,
                language=language,
                email=EmailParts(
                    subject=words["portal_code_subject"],
                    unsubscribe_url=f"{self.public_base_url.rstrip('/')}/portal",
                ),
            )
        else:
            raise InvalidInput(f"cannot send a code by {channel}", field="system")
        self.registry.send(message)
