"""Building an outbox worker for a process from its settings (CLI ``worker``, ``serve``, tests).

Kept apart from :mod:`careloop.compose.outreach` so a worker process imports neither the
decision engine (NumPy, SciPy) nor the workflows: it only claims, sends and records.
"""

from __future__ import annotations

import os
import socket
from datetime import datetime

from careloop.channels.portal import PortalInbox
from careloop.channels.registry import ChannelRegistry, build_channels
from careloop.crypto import signing_key
from careloop.governance.unsubscribe import make_unsubscribe_token, unsubscribe_url
from careloop.outreach.config import outreach_settings
from careloop.outreach.portal_inbox import DatabasePortalInbox
from careloop.outreach.worker import Claimed, Worker
from careloop.runtime import Runtime


def default_worker_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


def build_worker(
    rt: Runtime,
    *,
    worker_id: str | None = None,
    channels: ChannelRegistry | None = None,
    portal_inbox: PortalInbox | None = None,
) -> Worker:
    """A worker over the configured channels; portal messages go to the database inbox
    (the outbox rows themselves) unless an inbox is passed, as tests and the simulator do."""
    own, channel_settings = outreach_settings(rt.settings)
    registry = channels or build_channels(
        channel_settings, clock=rt.clock, portal_inbox=portal_inbox or DatabasePortalInbox(rt)
    )
    base = rt.settings.security.public_base_url
    key = signing_key(rt.settings)

    def unsubscribe(message: Claimed, now: datetime) -> str:
        # A caregiver's copy unsubscribes the caregiver's mailbox, never the patient.
        token = make_unsubscribe_token(
            key=key,
            patient_id=message.patient_id,
            now=now,
            channel="email",
            purpose="*",
            address=message.to_address if message.recipient_kind == "caregiver" else None,
            language=message.language,
        )
        return unsubscribe_url(base_url=base, token=token)

    return Worker(
        runtime=rt,
        channels=registry,
        settings=own,
        worker_id=worker_id or default_worker_id(),
        public_base_url=base,
        unsubscribe_link=unsubscribe,
    )
