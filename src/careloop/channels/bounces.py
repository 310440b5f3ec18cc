"""Reading bounce messages: RFC 3464 delivery status notifications (DSNs).

A DSN is ``multipart/report; report-type=delivery-status`` with a ``message/delivery-status``
part (one block per recipient: ``Action``, ``Status``) and the returned message or its headers
(``message/rfc822`` or ``text/rfc822-headers``) carrying our original ``Message-ID``, which is
the provider id :class:`~careloop.channels.email_smtp.SmtpEmailChannel` returned. Status class
5 (``5.x.x``) is permanent, 4 transient (RFC 3463). Recipient addresses are read only to count
blocks; they are never returned or logged.
"""

from __future__ import annotations

import email
import email.policy
from datetime import datetime
from email.message import EmailMessage, Message

from careloop.channels.errors import ChannelError, FailureReason
from careloop.channels.messages import ChannelKind, DeliveryReport, DeliveryStatus
from careloop.clock import ensure_utc
from careloop.errors import InvalidInput

_SUBJECT_REASON: dict[str, FailureReason] = {
    "1": FailureReason.INVALID_ADDRESS,  # X.1.X addressing: bad mailbox, bad domain
    "2": FailureReason.UNREACHABLE,  # X.2.X mailbox: full, disabled
    "4": FailureReason.UNREACHABLE,  # X.4.X network and routing
    "7": FailureReason.BLOCKED,  # X.7.X security or policy: spam, not authorized
}


def _failure(status: str) -> ChannelError:
    klass, _, rest = status.partition(".")
    subject = rest.partition(".")[0]
    permanent = klass == "5"
    fallback = FailureReason.REJECTED if permanent else FailureReason.UNREACHABLE
    reason = _SUBJECT_REASON.get(subject, fallback)
    return ChannelError(reason, permanent=permanent, provider_code=status)


def _original_message_id(report: EmailMessage) -> str | None:
    for part in report.iter_parts():
        content_type = part.get_content_type()
        if content_type in ("message/rfc822", "message/global"):
            payload = part.get_payload()
            inner = payload[0] if isinstance(payload, list) and payload else None
            if isinstance(inner, Message) and inner["Message-ID"]:
                return str(inner["Message-ID"]).strip()
        if content_type in ("text/rfc822-headers", "message/global-headers"):
            text = str(part.get_content())
            headers = email.message_from_string(text, policy=email.policy.default)
            if headers["Message-ID"]:
                return str(headers["Message-ID"]).strip()
    return None


def parse_bounce(raw: bytes, *, reported_at: datetime) -> list[DeliveryReport]:
    """One report per failed or delayed recipient of a DSN (delivered/relayed ones are skipped).

    Raises ``InvalidInput`` for mail that is not a DSN (auto-replies, plain bounces without a
    report) or that does not say which message bounced: such mail needs a person, and saying
    so is better than dropping it quietly.
    """
    report = email.message_from_bytes(raw, policy=email.policy.default)
    if (
        not isinstance(report, EmailMessage)
        or report.get_content_type() != "multipart/report"
        or report.get_param("report-type") != "delivery-status"
    ):
        raise InvalidInput("not a delivery status notification", field="dsn")
    status_part = next(
        (p for p in report.iter_parts() if p.get_content_type() == "message/delivery-status"),
        None,
    )
    if status_part is None:
        raise InvalidInput("report has no message/delivery-status part", field="dsn")
    message_id = _original_message_id(report)
    if message_id is None:
        raise InvalidInput("bounce does not carry the original Message-ID", field="dsn")
    blocks = status_part.get_payload()
    if not isinstance(blocks, list) or len(blocks) < 2:
        raise InvalidInput("delivery-status has no per-recipient fields", field="dsn")
    reports: list[DeliveryReport] = []
    for block in blocks[1:]:
        if not isinstance(block, Message):
            continue
        action = str(block.get("Action", "")).strip().lower()
        if action not in ("failed", "delayed"):
            continue
        status = str(block.get("Status", "")).strip().split(" ")[0]
        failure = _failure(status or ("5.0.0" if action == "failed" else "4.0.0"))
        reports.append(
            DeliveryReport(
                channel=ChannelKind.EMAIL,
                provider_id=message_id,
                status=DeliveryStatus.BOUNCED if action == "failed" else DeliveryStatus.DELAYED,
                reported_at=ensure_utc(reported_at),
                failure=failure,
            )
        )
    return reports
