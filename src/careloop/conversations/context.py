"""What the inbound router needs beside the session: the clock, programs and settings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from careloop.channels.keywords import Keyword
from careloop.channels.messages import ChannelKind, InboundMessage
from careloop.clock import Clock
from careloop.outreach.config import OutreachSettings
from careloop.outreach.program import OutreachProgram
from careloop.settings import Settings


@dataclass(frozen=True)
class InboundContext:
    clock: Clock
    programs: Mapping[str, OutreachProgram]
    settings: OutreachSettings
    app_settings: Settings | None = None
    """The whole configuration, for access's waitlist back-fill after a cancel by reply."""


KEYWORD_REPLIES = {
    Keyword.OPT_OUT: "opt_out_confirmation",
    Keyword.OPT_IN: "opt_in_confirmation",
    Keyword.HELP: "help_reply",
}


def keyword_reply(ctx: InboundContext, message: InboundMessage) -> str | None:
    """The content that answers a keyword, unless the carrier answers SMS keywords itself."""
    if ctx.settings.carrier_handles_opt_out and message.channel is ChannelKind.SMS:
        return None
    if message.channel is ChannelKind.VOICE:
        # A word said on a call (a spoken "stop") is answered by the call's goodbye: a
        # confirmation queued on the call's channel would dial the person back.
        return None
    return KEYWORD_REPLIES.get(message.keyword) if message.keyword else None
