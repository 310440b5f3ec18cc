"""SMS sender types and the throughput carriers allow each (US figures; the outbox paces by them).

Long codes (10DLC) start at about 1 message/second per number, toll-free numbers at 3/s, short
codes at 100/s; carriers and Twilio may grant more after registration, so a configured
``messages_per_second`` always wins over the default.
"""

from __future__ import annotations

from enum import StrEnum


class SenderType(StrEnum):
    LONG_CODE = "long-code"
    TOLL_FREE = "toll-free"
    SHORT_CODE = "short-code"

    @property
    def default_messages_per_second(self) -> float:
        return _DEFAULT_MPS[self]


_DEFAULT_MPS: dict[SenderType, float] = {
    SenderType.LONG_CODE: 1.0,
    SenderType.TOLL_FREE: 3.0,
    SenderType.SHORT_CODE: 100.0,
}
