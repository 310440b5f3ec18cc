"""How a message out reads in the portal inbox: as written for a reader, named once.

The outbox keeps what was sent, and a voice script is written for the ear: a phone number
goes digit by digit ("call us at 5 5 5, 0 1 0, 0 1 9 9", the content ``digits`` filter).
The inbox shows it grouped as a reader expects ("555-010-0199"). A formal text is signed
before its words ("your care team: Your care team has sent you…"); the inbox already says
who wrote, so a sender prefix that the words repeat is dropped (issue 17).
"""

from __future__ import annotations

import re
from dataclasses import replace

from careloop.outreach.messages import ConversationItem

# Two or more groups of single digits separated by spaces, the groups by ", ".
_SPOKEN_NUMBER = re.compile(r"\b\d(?: \d)*(?:, \d(?: \d)*)+\b")
_PREFIX = re.compile(r"^\s*([^:\n]{1,60}):\s+")
_MIN_DIGITS = 7  # a phone number, not a list such as "1, 2 or 3"


def _grouped(match: re.Match[str]) -> str:
    groups = [g.replace(" ", "") for g in match.group(0).split(", ")]
    return "-".join(groups) if sum(len(g) for g in groups) >= _MIN_DIGITS else match.group(0)


def readable_body(channel: str, body: str) -> str:
    """``body`` as the inbox shows it: spoken numbers grouped, a repeated sender named once."""
    text = _SPOKEN_NUMBER.sub(_grouped, body) if channel == "voice" else body
    prefix = _PREFIX.match(text)
    if prefix is not None:
        rest = text[prefix.end() :]
        if rest.casefold().startswith(prefix.group(1).strip().casefold()):
            return rest
    return text


def readable(item: ConversationItem) -> ConversationItem:
    """The item with its body readable (a reply in is shown as the patient wrote it)."""
    if item.direction != "out":
        return item
    return replace(item, body=readable_body(item.channel, item.body))
