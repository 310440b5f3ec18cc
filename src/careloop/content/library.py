"""The message library: messages and their variants, loaded from YAML files or the database.

Layout on disk (adding a language is adding a folder of files)::

    library/_samples.yaml              sample field values the lint renders every variant with
    library/<language>/_frames.yaml    per tone and channel: greeting, sign-off, layout
    library/<language>/<message>.yaml  per reading level: the words (subject, sms, body, ...)

A *framed* message (``framing_of: mammogram_due``, ``framing: social``) says why the same call
to action matters in one framing's words (gain, loss, social, convenience). It is a message
like any other (versioned, approved, linted), with its base's fields and sensitivity; a
language may have it or not, and where it has not the base message is sent.

A variant's channel form is its tone's frame with the message's slots filled in
(``<<body>>`` → the level's body), composed once at load time. The composed template is what
a clinician approves, what is hashed and versioned, and what is rendered. A level may
override any slot per tone (``levels.basic.formal.sms``) where the words themselves change.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml

from careloop.content.vocab import (
    CHANNEL_PARTS,
    GENERIC_MESSAGE,
    ApprovalState,
    Channel,
    ReadingLevel,
    Sensitivity,
    Tone,
    parse_enum,
)
from careloop.errors import InvalidInput
from careloop.personalize.actions import KNOWN_FRAMINGS

LIBRARY_DIR = Path(__file__).parent / "library"
# Every frame greets and signs: these fields are declared for every message.
FRAME_FIELDS = ("first_name", "last_name", "care_team_name")
SLOTS = ("subject", "sms", "body", "action", "voice", "voice_action", "portal", "portal_action")
# Words for the portal inbox where a message's body or action speaks of replying by text
# (a portal message cannot be answered "R"): they replace body and action there.
_PORTAL_SLOTS = {"body": "portal", "action": "portal_action"}
_SLOT = re.compile(r"<<(\w+)>>")


@dataclass(frozen=True, order=True)
class VariantKey:
    """Which variant: one message in one language, reading level, tone and channel form."""

    message: str
    language: str
    reading_level: ReadingLevel
    tone: Tone
    channel: Channel

    def label(self) -> str:
        return f"{self.message}/{self.language}/{self.reading_level}/{self.tone}/{self.channel}"

    def columns(self) -> dict[str, str]:
        """The key as the columns of a stored version (``content_versions``)."""
        return {
            "message": self.message,
            "language": self.language,
            "reading_level": str(self.reading_level),
            "tone": str(self.tone),
            "channel": str(self.channel),
        }


@dataclass(frozen=True)
class Message:
    """A call to action, whatever its wording: what it needs and how sensitive it is."""

    name: str
    title: str
    sensitivity: Sensitivity
    fields: tuple[str, ...]
    grade_rule: str = "band"  # "band": held to its level's band; "ceiling": never harder
    framing_of: str | None = None  # the unframed message this one frames
    framing: str | None = None  # gain, loss, social or convenience


@dataclass(frozen=True)
class Variant:
    """One channel form of a message, as Jinja template sources, with its approval state."""

    key: VariantKey
    parts: Mapping[str, str]
    state: ApprovalState = ApprovalState.APPROVED
    version_id: int | None = None  # database id of this exact version, when loaded from there
    version: int | None = None
    approved_by: str | None = None
    approved_at: datetime | None = None

    @cached_property
    def content_hash(self) -> str:
        """Computed once per variant (the variant is frozen and its parts are never
        changed): a night's renders ask it for every message they write."""
        return content_hash(self.key, self.parts)


def content_hash(key: VariantKey, parts: Mapping[str, str]) -> str:
    """SHA-256 of the variant's identity and exact template text: equal hash, equal content."""
    canonical = json.dumps(
        {"key": key.label(), "parts": dict(sorted(parts.items()))},
        ensure_ascii=False,
        sort_keys=True,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass
class Library:
    """All messages and variants one renderer can choose from."""

    messages: dict[str, Message] = field(default_factory=dict)
    variants: dict[VariantKey, Variant] = field(default_factory=dict)
    samples: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)  # found while loading; the lint shows them
    generic_message: str = GENERIC_MESSAGE
    # Per language: the messages defined there (a language may lack some; the lint says so).
    by_language: dict[str, set[str]] = field(default_factory=dict)
    # Languages whose words all still wait for a person's approval (a library of approved
    # versions lacks them; a send in one says so instead of "no such language").
    awaiting_review: set[str] = field(default_factory=set)
    # Where the shipped files came from: state and approval as written in the YAML.
    source_approval: dict[str, tuple[ApprovalState, str | None, date | None]] = field(
        default_factory=dict
    )

    @property
    def languages(self) -> list[str]:
        return sorted(self.by_language)

    def get(self, key: VariantKey) -> Variant | None:
        return self.variants.get(key)

    def message(self, name: str) -> Message:
        try:
            return self.messages[name]
        except KeyError:
            raise InvalidInput(f"unknown message {name!r}", field="message") from None

    def framed(self, message: str, framing: str | None, language: str) -> str:
        """The message framed so in ``language`` (primary subtag) if the library has it,
        else ``message`` itself: a missing framing never changes the call to action."""
        if framing is None or framing == "plain":
            return message
        for name in sorted(self.by_language.get(language, ())):
            found = self.messages.get(name)
            if found is not None and (found.framing_of, found.framing) == (message, framing):
                return name
        return message

    def expected_keys(self) -> Iterable[VariantKey]:
        """Every variant a complete library has: each message in each language and form
        (framed messages only in the languages that have them: the base stands in)."""
        for name in sorted(self.messages):
            for language in self.languages:
                if self.messages[name].framing_of and name not in self.by_language[language]:
                    continue
                for level in ReadingLevel:
                    for tone in Tone:
                        for channel in Channel:
                            yield VariantKey(name, language, level, tone, channel)


def load_library(path: Path | None = None) -> Library:
    """Read a library folder (the shipped one by default).

    Unreadable YAML raises InvalidInput; a file that reads but is incomplete is loaded as far
    as it goes and its problems are kept in ``Library.problems`` for the lint to report.
    """
    root = path or LIBRARY_DIR
    if not root.is_dir():
        raise InvalidInput(f"no message library folder at {root}", field="library")
    library = Library(samples=read_samples(root))
    for language_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        if language_dir.name.startswith(("_", ".")):
            continue
        _load_language(library, language_dir)
    _check_framings(library)
    return library


def _check_framings(library: Library) -> None:
    """A framed message frames a known message, in a known framing, asking for the same."""
    for message in library.messages.values():
        if message.framing_of is None:
            continue
        base = library.messages.get(message.framing_of)
        if base is None:
            library.problems.append(
                f"{message.name}: frames unknown message {message.framing_of!r}"
            )
        elif (base.sensitivity, base.fields) != (message.sensitivity, message.fields):
            library.problems.append(
                f"{message.name}: sensitivity or fields differ from {message.framing_of}"
            )
        if message.framing not in KNOWN_FRAMINGS or message.framing == "plain":
            library.problems.append(f"{message.name}: unknown framing {message.framing!r}")


def read_samples(root: Path) -> dict[str, Any]:
    """The sample field values the lint renders every variant with (``_samples.yaml``)."""
    return _read_yaml(root / "_samples.yaml") or {}


def _read_yaml(path: Path) -> Any:
    if not path.exists():
        return None
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise InvalidInput(f"{path.name}: not valid YAML ({exc})", field="library") from None


def _load_language(library: Library, folder: Path) -> None:
    language = folder.name
    frames = _read_yaml(folder / "_frames.yaml")
    if not isinstance(frames, dict):
        library.problems.append(f"{language}: _frames.yaml is missing or not a mapping")
        return
    library.by_language.setdefault(language, set())
    for path in sorted(folder.glob("*.yaml")):
        if path.name.startswith("_"):
            continue
        document = _read_yaml(path)
        where = f"{language}/{path.name}"
        if not isinstance(document, dict):
            library.problems.append(f"{where}: not a mapping")
            continue
        try:
            message = _message_from(document, where=where)
        except InvalidInput as exc:
            library.problems.append(str(exc))
            continue
        known = library.messages.get(message.name)
        if known is None:
            library.messages[message.name] = message
        elif _rules(known) != _rules(message):
            library.problems.append(
                f"{where}: sensitivity, fields or grade rule differ from another language"
            )
        library.by_language[language].add(message.name)
        library.source_approval[f"{message.name}/{language}"] = _approval_from(document)
        state = library.source_approval[f"{message.name}/{language}"][0]
        for key, parts in _compose(
            document,
            frames,
            message=message.name,
            language=language,
            problems=library.problems,
            where=where,
        ):
            library.variants[key] = Variant(key=key, parts=parts, state=state)


def _rules(message: Message) -> tuple[object, ...]:
    """What must agree across languages (titles are translated, rules are not)."""
    return (
        message.sensitivity,
        message.fields,
        message.grade_rule,
        message.framing_of,
        message.framing,
    )


def _message_from(document: Mapping[str, Any], *, where: str) -> Message:
    name = document.get("message")
    if not isinstance(name, str) or not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        raise InvalidInput(f"{where}: 'message' must be a snake_case name", field="message")
    if f"{name}.yaml" != Path(where).name:
        raise InvalidInput(f"{where}: file name must be {name}.yaml", field="message")
    sensitivity = parse_enum(Sensitivity, str(document.get("sensitivity", "")), field="sensitivity")
    fields = document.get("fields") or []
    if not isinstance(fields, list) or not all(isinstance(f, str) for f in fields):
        raise InvalidInput(f"{where}: 'fields' must be a list of names", field="fields")
    grade_rule = str(document.get("grade_rule", "band"))
    if grade_rule not in ("band", "ceiling"):
        raise InvalidInput(f"{where}: grade_rule must be band or ceiling", field="grade_rule")
    framing_of, framing = document.get("framing_of"), document.get("framing")
    if (framing_of is None) != (framing is None):
        raise InvalidInput(f"{where}: framing_of and framing go together", field="framing")
    return Message(
        name=name,
        title=str(document.get("title", name)),
        sensitivity=sensitivity,
        fields=tuple(sorted({*FRAME_FIELDS, *fields})),
        grade_rule=grade_rule,
        framing_of=str(framing_of) if framing_of is not None else None,
        framing=str(framing) if framing is not None else None,
    )


def _approval_from(document: Mapping[str, Any]) -> tuple[ApprovalState, str | None, date | None]:
    state = parse_enum(ApprovalState, str(document.get("state", "draft")), field="state")
    approved_by = document.get("approved_by")
    approved_at = document.get("approved_at")
    if isinstance(approved_at, str):
        approved_at = date.fromisoformat(approved_at)
    return (
        state,
        str(approved_by) if approved_by else None,
        approved_at if isinstance(approved_at, date) else None,
    )


def _compose(
    document: Mapping[str, Any],
    frames: Mapping[str, Any],
    *,
    message: str,
    language: str,
    problems: list[str],
    where: str,
) -> Iterable[tuple[VariantKey, dict[str, str]]]:
    levels = document.get("levels") or {}
    common = {k: v for k, v in (document.get("common") or {}).items() if k in SLOTS}
    for level_name, level in levels.items():
        try:
            reading_level = parse_enum(ReadingLevel, str(level_name), field="reading_level")
        except InvalidInput as exc:
            problems.append(f"{where}: {exc}")
            continue
        unknown = set(level) - set(SLOTS) - {t.value for t in Tone}
        if unknown:
            problems.append(f"{where}: unknown keys in {level_name}: {sorted(unknown)}")
        for tone in Tone:
            slots = dict(common)
            slots.update({k: v for k, v in level.items() if k in SLOTS})
            slots.update(level.get(tone.value) or {})
            # A voice script is the body unless written apart (bodies carry no links).
            slots.setdefault("voice", slots.get("body"))
            for channel in Channel:
                own = slots
                if channel is Channel.PORTAL:
                    own = {**slots, **{k: slots[v] for k, v in _PORTAL_SLOTS.items() if v in slots}}
                frame = (frames.get(tone.value) or {}).get(channel.value)
                if not isinstance(frame, dict):
                    problems.append(f"{language}/_frames.yaml: no {tone}/{channel} frame")
                    continue
                parts: dict[str, str] = {}
                for part in CHANNEL_PARTS[channel]:
                    source = frame.get(part)
                    if not isinstance(source, str):
                        problems.append(f"{language}/_frames.yaml: {tone}/{channel} lacks {part}")
                        break
                    filled = _fill(source, own)
                    if filled is None:
                        missing = sorted(set(_SLOT.findall(source)) - set(own))
                        problems.append(
                            f"{where}: {level_name}/{tone}/{channel} needs {', '.join(missing)}"
                        )
                        break
                    parts[part] = filled
                else:
                    yield VariantKey(message, language, reading_level, tone, channel), parts


def _fill(source: str, slots: Mapping[str, Any]) -> str | None:
    names = _SLOT.findall(source)
    if any(not isinstance(slots.get(name), str) for name in names):
        return None
    return _SLOT.sub(lambda m: str(slots[m.group(1)]).strip(), source).strip()


def library_from_versions(
    *, messages: Iterable[Message], variants: Iterable[Variant], samples: Mapping[str, Any]
) -> Library:
    """A library built from stored versions (the database), for rendering what was approved."""
    library = Library(samples=dict(samples))
    for message in messages:
        library.messages[message.name] = message
    for variant in variants:
        library.variants[variant.key] = variant
        library.by_language.setdefault(variant.key.language, set()).add(variant.key.message)
    return library
