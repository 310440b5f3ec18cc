"""dspx (twilio_calls.transport_failure): Twilio accepted the text (201) and the connection
dropped while its answer's body was read. The outcome is known to be "probably sent", so it
must be ``timeout`` (reconciled before any re-send), never an unexpected exception nor
``provider-down`` (re-sent blindly: a second text)."""

from __future__ import annotations

import re
import socket
import threading

import pytest

from careloop.channels.errors import ChannelError, FailureReason
from careloop.channels.sms_twilio import TwilioSmsChannel
from tests.channels.test_channels_sms import sms, sms_settings


def test_an_answer_cut_short_after_a_201_is_an_unknown_outcome() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    received: list[bytes] = []

    def read_then_answer_half() -> None:
        connection, _ = listener.accept()
        with connection:
            data = b""
            while b"\r\n\r\n" not in data:
                data += connection.recv(65536)
            head, _, body = data.partition(b"\r\n\r\n")
            length = int(re.search(rb"(?i)content-length: *(\d+)", head)[1])  # type: ignore[index]
            while len(body) < length:
                body += connection.recv(65536)
            received.append(head + body)
            connection.sendall(
                b"HTTP/1.1 201 CREATED\r\nContent-Type: application/json\r\n"
                b'Content-Length: 400\r\n\r\n{"sid": "SM0123'
            )

    thread = threading.Thread(target=read_then_answer_half)
    thread.start()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    channel = TwilioSmsChannel.from_settings(sms_settings(url, timeout=5))
    try:
        with pytest.raises(ChannelError) as failure:
            channel.send(sms())
    finally:
        thread.join(5)
        listener.close()

    assert received[0].startswith(b"POST ")
    assert (failure.value.reason, failure.value.permanent) == (FailureReason.TIMEOUT, False)
