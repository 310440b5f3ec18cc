"""The words of the content domain: the axes a variant varies along, and approval states."""

from __future__ import annotations

from enum import StrEnum
from typing import TypeVar

from careloop.channels.messages import ChannelKind
from careloop.errors import InvalidInput

E = TypeVar("E", bound=StrEnum)


class ReadingLevel(StrEnum):
    """Declared reading level; held to a grade band by the lint (see readability.py)."""

    BASIC = "basic"
    STANDARD = "standard"
    ADVANCED = "advanced"


class Tone(StrEnum):
    FRIENDLY = "friendly"
    FORMAL = "formal"


Channel = ChannelKind
"""The channels a variant is written for: the adapters' own list, so the two cannot drift."""


class Sensitivity(StrEnum):
    """``clinical`` names a condition, a test or a treatment; ``general`` does not."""

    GENERAL = "general"
    CLINICAL = "clinical"


class ApprovalState(StrEnum):
    """draft → approved → retired (a draft may also be retired without being approved)."""

    DRAFT = "draft"
    APPROVED = "approved"
    RETIRED = "retired"


# The template parts each channel form is made of.
CHANNEL_PARTS: dict[Channel, tuple[str, ...]] = {
    Channel.SMS: ("body",),
    Channel.EMAIL: ("subject", "text"),
    Channel.VOICE: ("body",),
    Channel.PORTAL: ("subject", "body"),
}

# Reading levels to try, in order, when the asked one is missing: the nearest first, and
# from the middle level the plainer one before the harder one.
LEVEL_FALLBACK: dict[ReadingLevel, tuple[ReadingLevel, ...]] = {
    ReadingLevel.BASIC: (ReadingLevel.BASIC, ReadingLevel.STANDARD, ReadingLevel.ADVANCED),
    ReadingLevel.STANDARD: (ReadingLevel.STANDARD, ReadingLevel.BASIC, ReadingLevel.ADVANCED),
    ReadingLevel.ADVANCED: (ReadingLevel.ADVANCED, ReadingLevel.STANDARD, ReadingLevel.BASIC),
}

DEFAULT_LANGUAGE = "en"
GENERIC_MESSAGE = "care_team_message"


def parse_enum(kind: type[E], value: str, *, field: str) -> E:
    """``value`` as a member of ``kind``, or InvalidInput naming ``field``."""
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(m.value for m in kind)
        raise InvalidInput(f"{field} must be one of: {allowed}", field=field) from None
