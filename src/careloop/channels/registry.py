"""Which adapter serves which channel: an explicit table, no plugin discovery.

``PROVIDERS`` maps (channel, provider name) to a factory; ``build_channels`` reads the
``channels`` settings and builds one adapter per channel. A provider name that is not in the
table is an error at start-up, never a silently missing channel.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from careloop.channels.fake import FakeChannel
from careloop.channels.interface import Channel, Reconciler, SenderChoice
from careloop.channels.messages import ChannelKind, OutboundMessage, RateLimit, SendResult
from careloop.channels.portal import PortalChannel, PortalInbox
from careloop.channels.settings import ChannelsSettings, account_or_sms
from careloop.channels.twilio_lookup import TwilioLineTypeLookup
from careloop.clock import Clock
from careloop.errors import InvalidInput


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelDeps:
    """What adapters need from outside the channels package."""

    clock: Clock
    portal_inbox: PortalInbox


ChannelFactory = Callable[[ChannelsSettings, ChannelDeps], Channel]


def _twilio_sms(settings: ChannelsSettings, deps: ChannelDeps) -> Channel:
    from careloop.channels.sms_twilio import TwilioSmsChannel  # imports twilio: only if used

    return TwilioSmsChannel.from_settings(settings.sms)


def _twilio_voice(settings: ChannelsSettings, deps: ChannelDeps) -> Channel:
    from careloop.channels.twilio_http import build_twilio_client
    from careloop.channels.voice_twilio import TwilioVoiceChannel

    account = account_or_sms(settings.voice.account, settings.sms)
    caller_id = settings.voice.caller_id or settings.sms.default_sender
    if caller_id is None and settings.sms.senders:
        caller_id = settings.sms.senders[0].number
    if not caller_id:
        raise InvalidInput("voice needs a caller id", field="channels.voice.caller_id")
    client = build_twilio_client(
        account_sid=account.account_sid,
        auth_token=account.auth_token.get_secret_value(),
        base_url=account.base_url,
        timeout=account.timeout_seconds,
    )
    return TwilioVoiceChannel(
        client=client,
        caller_id=caller_id,
        calls_per_second=settings.voice.calls_per_second,
        machine_detection=settings.voice.machine_detection,
        speech=settings.voice.speech,
    )


def _smtp(settings: ChannelsSettings, deps: ChannelDeps) -> Channel:
    from careloop.channels.email_smtp import SmtpEmailChannel

    return SmtpEmailChannel(settings=settings.email, clock=deps.clock)


def _portal(settings: ChannelsSettings, deps: ChannelDeps) -> Channel:
    return PortalChannel(inbox=deps.portal_inbox)


def _fake(kind: ChannelKind) -> ChannelFactory:
    def build(settings: ChannelsSettings, deps: ChannelDeps) -> Channel:
        return FakeChannel(kind)

    return build


PROVIDERS: Mapping[tuple[ChannelKind, str], ChannelFactory] = {
    (ChannelKind.SMS, "twilio"): _twilio_sms,
    (ChannelKind.SMS, "fake"): _fake(ChannelKind.SMS),
    (ChannelKind.EMAIL, "smtp"): _smtp,
    (ChannelKind.EMAIL, "fake"): _fake(ChannelKind.EMAIL),
    (ChannelKind.VOICE, "twilio"): _twilio_voice,
    (ChannelKind.VOICE, "fake"): _fake(ChannelKind.VOICE),
    (ChannelKind.PORTAL, "inbox"): _portal,
    (ChannelKind.PORTAL, "fake"): _fake(ChannelKind.PORTAL),
}


class ChannelRegistry:
    """The adapters in use, one per channel kind; ``send`` routes by ``message.channel``."""

    def __init__(self, channels: Mapping[ChannelKind, Channel]) -> None:
        for kind, channel in channels.items():
            if channel.kind is not kind:
                raise InvalidInput(f"adapter for {kind} reports {channel.kind}", field="channels")
        self._channels = dict(channels)
        # Decided once: the worker asks per message, and a runtime protocol check is ~20 µs.
        self._reconcilers: dict[ChannelKind, Reconciler] = {
            kind: channel for kind, channel in channels.items() if isinstance(channel, Reconciler)
        }
        self._choosers: dict[ChannelKind, SenderChoice] = {
            kind: channel for kind, channel in channels.items() if isinstance(channel, SenderChoice)
        }

    def get(self, kind: ChannelKind) -> Channel:
        channel = self._channels.get(kind)
        if channel is None:
            raise InvalidInput(f"no adapter configured for {kind}", field="channel")
        return channel

    @property
    def kinds(self) -> frozenset[ChannelKind]:
        return frozenset(self._channels)

    def send(self, message: OutboundMessage) -> SendResult:
        """Send through the adapter for ``message.channel`` (raises ``ChannelError``)."""
        return self.get(message.channel).send(message)

    def rate_limit(self, kind: ChannelKind, sender: str | None) -> RateLimit | None:
        return self.get(kind).rate_limit(sender)

    def sender_now(self, kind: ChannelKind, sender: str | None) -> str | None:
        """The sender a ``kind`` message naming ``sender`` goes from as configured now
        (unchanged for adapters whose senders are not configured)."""
        chooser = self._choosers.get(kind)
        return sender if chooser is None else chooser.sender_now(sender)

    def reconciler(self, kind: ChannelKind) -> Reconciler | None:
        """The adapter for ``kind`` if it can look up what it already sent, else ``None``."""
        self.get(kind)  # an unknown kind is still an error, not "cannot be asked"
        return self._reconcilers.get(kind)


def build_channels(
    settings: ChannelsSettings, *, clock: Clock, portal_inbox: PortalInbox
) -> ChannelRegistry:
    """One adapter per channel, as ``settings`` name them (``fake`` unless configured)."""
    deps = ChannelDeps(clock=clock, portal_inbox=portal_inbox)
    chosen = {
        ChannelKind.SMS: settings.sms.provider,
        ChannelKind.EMAIL: settings.email.provider,
        ChannelKind.VOICE: settings.voice.provider,
        ChannelKind.PORTAL: settings.portal.provider,
    }
    channels: dict[ChannelKind, Channel] = {}
    for kind, provider in chosen.items():
        factory = PROVIDERS.get((kind, provider))
        if factory is None:
            raise InvalidInput(f"unknown {kind} provider", field=f"channels.{kind}.provider")
        channels[kind] = factory(settings, deps)
    return ChannelRegistry(channels)


def build_line_type_lookup(settings: ChannelsSettings) -> TwilioLineTypeLookup | None:
    """The configured line-type look-up, or ``None`` (``channels.lookup.provider: none``)."""
    if settings.lookup.provider == "none":
        return None
    return TwilioLineTypeLookup.from_settings(settings.lookup, settings.sms)
