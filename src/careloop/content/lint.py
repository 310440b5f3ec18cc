"""The library's checks, one report per expected variant (``careloop content lint``).

For every message × language × reading level × tone × channel:

- the variant exists (every language has every message and every form);
- it uses only allowed fields, and only those its message declares;
- it renders with the sample fields (in the language's sample locale and time zone);
- reading grade of the rendered text (SMS text, e-mail plain text, voice script, portal body;
  subjects are too short to grade) is held to its level — both ways for texts of at least
  30 words, the ceiling only for shorter texts (most SMS), for voice scripts (listening is
  harder than reading: a script plainer than its level is not a defect) and for messages
  declared ``grade_rule: ceiling`` (confirmations, the generic message);
- SMS: at most two segments (GSM-7 153/160 septets, UCS-2 67/70 code units);
- voice scripts carry no links (a text-to-speech voice would read them out);
- a ``general`` message shows no diagnosis or test words where others may see them.

A language with no accepted grade formula (Chinese) cannot be measured: its variants are
reported with ``grade`` null and ``needs_review`` true while unapproved, and a library file in
such a language may not declare itself approved: a fluent clinician approves each version
(``careloop content approve``), which is the only way its words reach a patient.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from careloop.content.compose import render_variant
from careloop.content.library import Library, Variant, VariantKey
from careloop.content.readability import (
    SUPPORTED_LANGUAGES,
    grade_problems,
    measure,
)
from careloop.content.render import ALLOWED_FIELDS, URL_PATTERN, template_fields
from careloop.content.sensitivity import EXPOSED_PARTS, sensitive_terms_in
from careloop.content.sms import sms_info
from careloop.content.vocab import ApprovalState, Channel, Sensitivity
from careloop.errors import InvalidInput

MAX_SMS_SEGMENTS = 2
MAX_SUBJECT_CHARS = 78
DEFAULT_SAMPLE_WHERE = {"locale": "en_US", "timezone": "America/New_York"}


@dataclass
class VariantReport:
    """One line of the lint; the JSON keys are a contract."""

    message: str
    language: str
    reading_level: str
    tone: str
    channel: str
    grade: float | None = None
    segments: int | None = None
    ok: bool = True
    problems: list[str] = field(default_factory=list)
    # No grade formula for the language and not yet approved by a person: not sendable.
    needs_review: bool = False

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def sample_fields(library: Library, language: str) -> tuple[dict[str, object], str, str]:
    """Sample fields, locale and time zone for ``language`` (``_samples.yaml``)."""
    samples = library.samples
    fields: dict[str, object] = dict(samples.get("fields") or {})
    where = dict(DEFAULT_SAMPLE_WHERE)
    override = (samples.get("languages") or {}).get(language) or {}
    fields.update(override.get("fields") or {})
    where.update({k: v for k, v in override.items() if k in ("locale", "timezone")})
    return fields, str(where["locale"]), str(where["timezone"])


def lint_library(library: Library) -> list[VariantReport]:
    """Check every expected variant; a report with ``ok`` false names what is wrong."""
    reports: list[VariantReport] = []
    for key in library.expected_keys():
        report = VariantReport(
            key.message, key.language, str(key.reading_level), str(key.tone), str(key.channel)
        )
        variant = library.get(key)
        if variant is None:
            report.problems.append("missing variant")
        else:
            _check_variant(library, variant, report)
        report.ok = not report.problems
        reports.append(report)
    for problem in [*library.problems, *_unreviewed_approvals(library)]:
        reports.append(VariantReport("(library)", "", "", "", "", ok=False, problems=[problem]))
    return reports


def _unreviewed_approvals(library: Library) -> list[str]:
    """Files that approve words no formula can grade: only a person may approve those."""
    return [
        f"{where}: approved in the file, but {where.split('/')[1]} has no grade formula: "
        "ship it as a draft for a fluent clinician to review and approve"
        for where, (state, _, _) in sorted(library.source_approval.items())
        if state is ApprovalState.APPROVED and where.split("/")[1] not in SUPPORTED_LANGUAGES
    ]


def lint_variant(library: Library, variant: Variant) -> VariantReport:
    """The checks of one variant (e.g. a staff draft) against its message and the samples."""
    key = variant.key
    report = VariantReport(
        key.message, key.language, str(key.reading_level), str(key.tone), str(key.channel)
    )
    _check_variant(library, variant, report)
    report.ok = not report.problems
    return report


def _check_variant(library: Library, variant: Variant, report: VariantReport) -> None:
    key = variant.key
    message = library.message(key.message)
    for name, source in variant.parts.items():
        try:
            used = template_fields(source)
        except InvalidInput as exc:
            report.problems.append(f"{name}: {exc}")
            return
        for field_name in sorted(used - set(ALLOWED_FIELDS)):
            report.problems.append(f"{name}: field {field_name!r} is not an allowed field")
        for field_name in sorted((used & set(ALLOWED_FIELDS)) - set(message.fields)):
            report.problems.append(
                f"{name}: uses {field_name!r} which the message does not declare"
            )
    if report.problems:
        return
    fields, locale, timezone = sample_fields(library, key.language)
    try:
        rendered = render_variant(variant, fields=fields, locale=locale, timezone=timezone)
    except InvalidInput as exc:
        report.problems.append(f"does not render with sample data: {exc}")
        return
    main = rendered.get("text") or rendered.get("body") or ""
    if not main.strip():
        report.problems.append("renders empty")
        return
    ceiling_only = message.grade_rule == "ceiling" or key.channel is Channel.VOICE
    _check_grade(variant, main, report, ceiling_only=ceiling_only)
    _check_channel(key, rendered, report)
    if message.sensitivity is Sensitivity.GENERAL:
        for part in sorted(EXPOSED_PARTS[key.channel]):
            terms = sensitive_terms_in(rendered.get(part, ""), language=key.language)
            if terms:
                report.problems.append(f"declared general but its {part} names {', '.join(terms)}")


def _check_grade(variant: Variant, text: str, report: VariantReport, *, ceiling_only: bool) -> None:
    key = variant.key
    if key.language not in SUPPORTED_LANGUAGES:
        # Not a defect of the words: a person judges them instead (see the module docstring).
        report.needs_review = variant.state is not ApprovalState.APPROVED
        return
    reading = measure(text, language=key.language)
    report.grade = reading.grade
    report.problems.extend(
        grade_problems(reading, level=key.reading_level, ceiling_only=ceiling_only)
    )


def _check_channel(key: VariantKey, rendered: Mapping[str, str], report: VariantReport) -> None:
    if key.channel is Channel.SMS:
        info = sms_info(rendered["body"])
        report.segments = info.segments
        if info.segments > MAX_SMS_SEGMENTS:
            report.problems.append(
                f"SMS is {info.segments} segments ({info.encoding}, {info.units} units); "
                f"at most {MAX_SMS_SEGMENTS}"
            )
    if key.channel is Channel.VOICE and URL_PATTERN.search(rendered["body"]):
        report.problems.append("voice script contains a link a voice cannot say")
    subject = rendered.get("subject")
    if subject is not None and len(subject) > MAX_SUBJECT_CHARS:
        report.problems.append(f"subject is {len(subject)} characters; at most {MAX_SUBJECT_CHARS}")
