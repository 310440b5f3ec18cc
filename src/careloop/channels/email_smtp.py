"""Email over SMTP: multipart text + HTML, RFC 8058 one-click unsubscribe, STARTTLS and AUTH.

A connection (TLS handshake, AUTH) is reused for the next messages sent by the same thread,
up to :data:`MESSAGES_PER_CONNECTION`: before each reuse a ``NOOP`` checks the relay still has
it, else a fresh one is opened (nothing of the message was sent yet, so nothing can go twice);
after any failure the connection is dropped. Each worker thread has its own. The Message-ID
is derived from the idempotency key, so a retried send carries the same Message-ID (receivers
that deduplicate by it will show one copy) and a bounce finds its outbox row without a lookup
table. TLS is never downgraded: a server that does not offer STARTTLS when we require it is a
permanent misconfiguration, not a reason to send in the clear.
"""

from __future__ import annotations

import email.policy
import hashlib
import smtplib
import ssl
import threading
from email.message import EmailMessage
from email.utils import format_datetime, formataddr

from careloop.channels.errors import ChannelError, FailureReason
from careloop.channels.messages import (
    ChannelKind,
    DeliveryStatus,
    EmailParts,
    OutboundMessage,
    RateLimit,
    SendResult,
)
from careloop.channels.settings import EmailSettings
from careloop.clock import Clock
from careloop.errors import InvalidInput

HEADERS_UNFOLDED = email.policy.SMTP.clone(max_line_length=998)
"""CRLF line ends, and header lines up to RFC 5322's 998 characters: with the default 78, a
long one-click unsubscribe URL has no place to fold and goes out RFC 2047-encoded, which mail
providers do not read as a List-Unsubscribe URI (RFC 2369 wants it verbatim in angle brackets)."""


MESSAGES_PER_CONNECTION = 100
"""Messages sent over one SMTP connection before it is closed (relays often refuse more
per session, e.g. ``421 too many messages``)."""


def message_id_for(idempotency_key: str, *, domain: str) -> str:
    """A stable ``<...@domain>`` Message-ID for one outbox row (hash: the key never shows)."""
    digest = hashlib.sha256(idempotency_key.encode()).hexdigest()[:32]
    return f"<{digest}@{domain}>"


def build_email(
    message: OutboundMessage, *, from_address: str, message_id: str, clock: Clock
) -> EmailMessage:
    """The MIME message: text/plain body, text/html alternative, list-unsubscribe headers."""
    parts = _email_parts(message)
    email = EmailMessage(policy=HEADERS_UNFOLDED)
    email["From"] = from_address
    email["To"] = message.to
    email["Subject"] = parts.subject
    email["Date"] = format_datetime(clock.now())
    email["Message-ID"] = message_id
    email["Auto-Submitted"] = "auto-generated"
    if parts.reply_to:
        email["Reply-To"] = parts.reply_to
    targets = [f"<{parts.unsubscribe_url}>"]
    if parts.unsubscribe_mailto:
        targets.append(f"<mailto:{parts.unsubscribe_mailto.removeprefix('mailto:')}>")
    email["List-Unsubscribe"] = ", ".join(targets)
    email["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    email.set_content(message.body)
    if parts.html:
        email.add_alternative(parts.html, subtype="html")
    # After the body: set_content() clears every Content-* header set before it.
    email["Content-Language"] = message.language
    return email


def _email_parts(message: OutboundMessage) -> EmailParts:
    if message.channel is not ChannelKind.EMAIL or message.email is None:
        raise InvalidInput("not an email message (email parts missing)", field="email")
    if not message.email.unsubscribe_url.startswith("https://"):
        # RFC 8058 one-click needs an HTTPS URI; mailto alone cannot be one-click. A setting
        # to fix (security.public_base_url), named as such, not "no adapter".
        raise ChannelError(
            FailureReason.MISCONFIGURED,
            permanent=True,
            detail="unsubscribe URL must be https (security.public_base_url)",
        )
    return message.email


# What a coded refusal means, by what was refused: (reason for a 5xx, reason for a 4xx).
_REFUSED_RECIPIENT = (FailureReason.INVALID_ADDRESS, FailureReason.UNREACHABLE)
_REFUSED_SENDER = (FailureReason.MISCONFIGURED, FailureReason.RATE_LIMITED)
_REFUSED_MESSAGE = (FailureReason.REJECTED, FailureReason.PROVIDER_DOWN)


def _smtp_failure(code: int, reasons: tuple[FailureReason, FailureReason]) -> ChannelError:
    """A 5xx refusal is permanent, a 4xx one worth retrying."""
    if code >= 500:
        return ChannelError(reasons[0], permanent=True, provider_code=str(code))
    return ChannelError(reasons[1], permanent=False, provider_code=str(code))


class _Session(threading.local):
    connection: smtplib.SMTP | None = None
    sent = 0


class SmtpEmailChannel:
    """Sends over SMTP (STARTTLS/implicit TLS, AUTH if set), one session per thread, reused."""

    def __init__(self, *, settings: EmailSettings, clock: Clock) -> None:
        self._settings = settings
        self._clock = clock
        self._session = _Session()
        self._domain = settings.message_id_domain or settings.from_address.rpartition("@")[2]
        if not self._domain:
            raise InvalidInput(
                "cannot derive a Message-ID domain", field="channels.email.message_id_domain"
            )

    @property
    def kind(self) -> ChannelKind:
        return ChannelKind.EMAIL

    def rate_limit(self, sender: str | None) -> RateLimit | None:
        mps = self._settings.messages_per_second
        return RateLimit(messages_per_second=mps) if mps else None

    def _tls_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self._settings.ca_file)

    def _connect(self) -> smtplib.SMTP:
        s = self._settings
        if s.implicit_tls:
            return smtplib.SMTP_SSL(
                s.host, s.port, timeout=s.timeout_seconds, context=self._tls_context()
            )
        connection = smtplib.SMTP(s.host, s.port, timeout=s.timeout_seconds)
        if s.starttls:
            try:
                connection.ehlo()
                connection.starttls(context=self._tls_context())
                connection.ehlo()
            except BaseException:
                connection.close()
                raise
        return connection

    def _open(self) -> smtplib.SMTP:
        s = self._settings
        connection = self._connect()
        try:
            if s.username:
                password = s.password.get_secret_value() if s.password else ""
                connection.login(s.username, password)
        except BaseException:
            _quit(connection)
            raise
        return connection

    def _reused(self) -> smtplib.SMTP | None:
        """This thread's open connection, if the relay still answers on it."""
        connection = self._session.connection
        if connection is None:
            return None
        try:
            alive = connection.noop()[0] == 250
        except (smtplib.SMTPException, OSError):
            alive = False
        if not alive:
            self.close()
        return self._session.connection

    def _transmit(self, email: EmailMessage, *, to: str) -> None:
        s = self._settings
        connection = self._reused() or self._open()
        self._session.connection = connection
        try:
            connection.send_message(
                email, from_addr=s.bounce_address or s.from_address, to_addrs=[to]
            )
        except BaseException:
            self.close()
            raise
        self._session.sent += 1
        if self._session.sent >= MESSAGES_PER_CONNECTION:
            self.close()

    def close(self) -> None:
        """End this thread's SMTP session (``QUIT``), if one is open."""
        connection, self._session.connection = self._session.connection, None
        self._session.sent = 0
        if connection is not None:
            _quit(connection)

    def send(self, message: OutboundMessage) -> SendResult:
        s = self._settings
        message_id = message_id_for(message.idempotency_key, domain=self._domain)
        email = build_email(
            message,
            from_address=formataddr((s.from_name or "", message.sender or s.from_address)),
            message_id=message_id,
            clock=self._clock,
        )
        try:
            self._transmit(email, to=message.to)
        except smtplib.SMTPAuthenticationError as exc:
            raise ChannelError(
                FailureReason.AUTH_FAILED, permanent=True, provider_code=str(exc.smtp_code)
            ) from None
        except smtplib.SMTPNotSupportedError:
            raise ChannelError(
                FailureReason.MISCONFIGURED, permanent=True, detail="server lacks STARTTLS or AUTH"
            ) from None
        except smtplib.SMTPRecipientsRefused as exc:
            code = min(code for code, _ in exc.recipients.values())
            raise _smtp_failure(code, _REFUSED_RECIPIENT) from None
        except smtplib.SMTPSenderRefused as exc:
            raise _smtp_failure(exc.smtp_code, _REFUSED_SENDER) from None
        except smtplib.SMTPServerDisconnected:
            raise ChannelError(FailureReason.PROVIDER_DOWN, permanent=False) from None
        except smtplib.SMTPResponseException as exc:
            raise _smtp_failure(exc.smtp_code, _REFUSED_MESSAGE) from None
        except ssl.SSLCertVerificationError:
            raise ChannelError(
                FailureReason.MISCONFIGURED, permanent=True, detail="server certificate not trusted"
            ) from None
        except TimeoutError:
            raise ChannelError(FailureReason.TIMEOUT, permanent=False) from None
        except (OSError, smtplib.SMTPException):
            raise ChannelError(FailureReason.PROVIDER_DOWN, permanent=False) from None
        return SendResult(provider_id=message_id, status=DeliveryStatus.SENT)


def _quit(connection: smtplib.SMTP) -> None:
    # The message is accepted once DATA got its 250: a failing QUIT must not undo that.
    try:
        connection.quit()
    except (smtplib.SMTPException, OSError):
        connection.close()
