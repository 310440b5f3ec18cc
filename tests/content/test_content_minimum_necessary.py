"""Minimum necessary: no diagnosis or test names where others may see them, without consent."""

from __future__ import annotations

from pathlib import Path

import yaml

from careloop.content.compose import render_message
from careloop.content.library import Library, load_library
from careloop.content.lint import VariantReport, lint_library
from careloop.content.sensitivity import sensitive_terms_in


def _render(library: Library, fields: dict[str, object], **options: object):  # type: ignore[no-untyped-def]
    request: dict[str, object] = {
        "message": "mammogram_due",
        "language": "en",
        "reading_level": "basic",
        "tone": "friendly",
        "fields": fields,
        "locale": "en_US",
        "timezone": "America/New_York",
    }
    request.update(options)
    return render_message(library, **request)  # type: ignore[arg-type]


def test_sensitive_sms_without_consent_is_the_generic_text(
    shipped: Library, fields: dict[str, object]
) -> None:
    rendered = _render(shipped, fields, channel="sms", detailed_consent=False)
    assert rendered.minimum_necessary
    assert rendered.used.message == "care_team_message"
    assert "new message from your care team" in rendered.body
    assert "mammogram" not in rendered.body.lower()


def test_sensitive_sms_with_consent_is_detailed(
    shipped: Library, fields: dict[str, object]
) -> None:
    rendered = _render(shipped, fields, channel="sms", detailed_consent=True)
    assert not rendered.minimum_necessary
    assert rendered.used.message == "mammogram_due"
    assert "mammogram" in rendered.body


def test_voicemail_is_generic_too_in_spanish(shipped: Library, fields: dict[str, object]) -> None:
    rendered = _render(
        shipped, fields, channel="voice", language="es", locale="es_US", detailed_consent=False
    )
    assert rendered.used == rendered.used.__class__(
        "care_team_message",
        "es",
        rendered.requested.reading_level,
        rendered.requested.tone,
        rendered.requested.channel,
    )
    assert sensitive_terms_in(rendered.body, language="es") == []


def test_email_keeps_its_body_but_takes_the_generic_subject(
    shipped: Library, fields: dict[str, object]
) -> None:
    rendered = _render(shipped, fields, channel="email", detailed_consent=False)
    assert rendered.subject == "New message from your care team"
    assert "mammogram" in rendered.body
    detailed = _render(shipped, fields, channel="email", detailed_consent=True)
    assert detailed.subject == "Time for your mammogram"


def test_portal_is_behind_a_login_and_always_detailed(
    shipped: Library, fields: dict[str, object]
) -> None:
    rendered = _render(shipped, fields, channel="portal", detailed_consent=False)
    assert not rendered.minimum_necessary
    assert "mammogram" in rendered.body


def test_general_messages_are_never_replaced(shipped: Library, fields: dict[str, object]) -> None:
    rendered = _render(
        shipped, fields, message="flu_shot_due", channel="sms", detailed_consent=False
    )
    assert rendered.used.message == "flu_shot_due"


def test_no_shipped_exposed_text_names_a_condition_without_being_declared_clinical(
    shipped_lint: list[VariantReport],
) -> None:
    assert not [r for r in shipped_lint if any("declared general" in p for p in r.problems)]


def test_lint_catches_a_general_message_that_names_a_test(tmp_path: Path) -> None:
    source = Path(load_library.__globals__["LIBRARY_DIR"])
    target = tmp_path / "library"
    target.mkdir()
    (target / "_samples.yaml").write_text((source / "_samples.yaml").read_text())
    for lang in ("en", "es"):
        (target / lang).mkdir()
        for name in ("_frames.yaml", "care_team_message.yaml"):
            (target / lang / name).write_text((source / lang / name).read_text())
        flu = yaml.safe_load((source / lang / "flu_shot_due.yaml").read_text())
        if lang == "en":
            flu["levels"]["basic"]["sms"] = "Time for your flu shot and your mammogram."
        (target / lang / "flu_shot_due.yaml").write_text(yaml.safe_dump(flu, allow_unicode=True))
    reports = lint_library(load_library(target))
    flagged = [r for r in reports if not r.ok]
    assert {(r.message, r.language, r.reading_level, r.channel) for r in flagged} == {
        ("flu_shot_due", "en", "basic", "sms")
    }
    assert "declared general but its body names mammogram" in flagged[0].problems
