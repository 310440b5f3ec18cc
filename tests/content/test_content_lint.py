"""``careloop content lint``: the shipped library passes, and a broken one is caught."""

from __future__ import annotations

import shutil
from pathlib import Path

import orjson
import yaml
from typer.testing import CliRunner

from careloop.content.library import LIBRARY_DIR, Library
from careloop.content.lint import VariantReport
from careloop.content.vocab import Channel, ReadingLevel, Tone

CONTRACT_KEYS = {
    "message",
    "language",
    "reading_level",
    "tone",
    "channel",
    "grade",
    "segments",
    "ok",
    "problems",
    "needs_review",
}


def test_the_shipped_library_passes_its_lint(shipped_lint: list[VariantReport]) -> None:
    failed = [
        f"{r.message}/{r.language}/{r.reading_level}/{r.tone}/{r.channel}: {r.problems}"
        for r in shipped_lint
        if not r.ok
    ]
    assert failed == []


def test_every_language_has_every_message_in_every_form(
    shipped: Library, shipped_lint: list[VariantReport]
) -> None:
    forms = len(ReadingLevel) * len(Tone) * len(Channel)
    assert set(shipped.languages) >= {"en", "es", "pt", "zh"}
    assert len(shipped.messages) >= 17
    plain = [m for m in shipped.messages.values() if m.framing_of is None]
    framed = [m for m in shipped.messages.values() if m.framing_of is not None]
    # A framed version exists only where it was written (en, es); elsewhere the plain one serves.
    framed_forms = sum(1 for r in shipped_lint if shipped.messages[r.message].framing_of)
    assert framed_forms == len(framed) * 2 * forms
    assert len(shipped_lint) == len(plain) * len(shipped.languages) * forms + framed_forms
    assert all(r.grade is not None for r in shipped_lint if r.language != "zh")
    # Chinese has no accepted grade formula: not measured, every variant awaits a person.
    assert all(r.grade is None and r.needs_review for r in shipped_lint if r.language == "zh")


def test_shipped_sms_fit_two_segments_and_english_ones_stay_gsm7(
    shipped_lint: list[VariantReport],
) -> None:
    sms = [r for r in shipped_lint if r.channel == "sms"]
    assert sms
    assert all(r.segments is not None and r.segments <= 2 for r in sms)
    assert all(r.segments == 1 for r in sms if r.language == "en")


def test_long_forms_measure_within_their_declared_band(shipped_lint: list[VariantReport]) -> None:
    long_forms = [r for r in shipped_lint if r.channel in ("email", "portal")]
    basic = [r.grade for r in long_forms if r.reading_level == "basic"]
    advanced = [
        r.grade
        for r in long_forms
        if r.reading_level == "advanced"
        # Transactional notices (a STOP/HELP answer, a caregiver's note of a visit, a ride that
        # fell through) are written plainly at every level: nothing in them needs more words.
        and not r.message.startswith(("opt_", "help_", "care_team", "caregiver_visit_", "ride_"))
    ]
    assert max(g for g in basic if g is not None) < 6.5
    assert min(g for g in advanced if g is not None) >= 9.5


def test_cli_lint_json_is_one_object_per_variant_and_exits_zero() -> None:
    from careloop.cli import app

    result = CliRunner().invoke(app, ["content", "lint", "--json"])
    assert result.exit_code == 0, result.output
    rows = orjson.loads(result.stdout)
    assert rows
    assert all(set(row) == CONTRACT_KEYS for row in rows)


def _broken_library(tmp_path: Path) -> Path:
    target = tmp_path / "library"
    shutil.copytree(LIBRARY_DIR, target)
    (target / "es" / "plan_changed.yaml").unlink()  # a language misses a message
    flu = yaml.safe_load((target / "en" / "flu_shot_due.yaml").read_text())
    flu["levels"]["basic"]["sms"] = "Flu season is here. " * 18  # far too long for 2 segments
    flu["levels"]["advanced"]["body"] = "Get a flu shot. It is quick. " * 8  # too plain
    flu["levels"]["standard"]["body"] = "Hi {{ first_name }}, your score is {{ score }}."
    (target / "en" / "flu_shot_due.yaml").write_text(yaml.safe_dump(flu, allow_unicode=True))
    return target


def test_cli_lint_fails_and_names_each_problem(tmp_path: Path) -> None:
    from careloop.cli import app

    result = CliRunner().invoke(
        app, ["content", "lint", "--json", "--library", str(_broken_library(tmp_path))]
    )
    assert result.exit_code == 1
    rows = orjson.loads(result.stdout)
    problems = {
        (r["message"], r["language"], r["reading_level"], r["tone"], r["channel"]): r["problems"]
        for r in rows
        if not r["ok"]
    }
    assert problems[("plan_changed", "es", "basic", "formal", "portal")] == ["missing variant"]
    assert any(
        "segments" in p for p in problems[("flu_shot_due", "en", "basic", "friendly", "sms")]
    )
    assert any(
        "below the advanced level" in p
        for p in problems[("flu_shot_due", "en", "advanced", "formal", "email")]
    )
    assert any(
        "'score' is not an allowed field" in p
        for p in problems[("flu_shot_due", "en", "standard", "friendly", "portal")]
    )


def test_cli_lints_what_is_approved_in_a_database(tmp_path: Path) -> None:
    from careloop.cli import app

    database = f"sqlite:///{tmp_path / 'site.db'}"
    runner = CliRunner()
    synced = runner.invoke(app, ["content", "sync", "--database", database, "--json"])
    assert synced.exit_code == 0, synced.output
    # en, es and pt (48 messages x 24 forms each) and the framed mammogram reminders (en, es:
    # 4 framings x 24 forms) are approved; zh (48 x 24) waits as drafts.
    assert orjson.loads(synced.stdout)["approved"] == 3648
    assert orjson.loads(synced.stdout)["drafted"] == 1152
    linted = runner.invoke(app, ["content", "lint", "--json", "--database", database])
    assert linted.exit_code == 0, linted.output
    assert len(orjson.loads(linted.stdout)) == 3648
