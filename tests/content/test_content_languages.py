"""The third and fourth languages (issue 25, item 4): Portuguese and Chinese.

They are the two most frequent non-English languages of the imported population after
Spanish. Portuguese is graded by the Martins et al. adaptation of Flesch and ships approved;
Chinese has no accepted grade formula, so it ships as drafts, is never sent while a draft
(the approved English goes instead, with the reason on the send), and reaches patients only
after a person reads its lint and approves it.
"""

from __future__ import annotations

import shutil
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest
import yaml
from content_helpers import subset
from fastapi.testclient import TestClient

from careloop.content import service
from careloop.content.compose import render_message
from careloop.content.library import LIBRARY_DIR, Library, load_library
from careloop.content.lint import VariantReport, lint_library
from careloop.content.readability import measure
from careloop.content.sms import sms_info
from careloop.records.demographics import demographics_from
from careloop.runtime import Runtime

REPO = Path(__file__).resolve().parents[2]
SYNTHEA = REPO.parent / "shared" / "data" / "synthea-r4" / "patients"
ClientFactory = Callable[[str], TestClient]


def _preferred_languages() -> Counter[str]:
    """Primary language subtag of each imported Synthea patient's Patient.communication."""
    counts: Counter[str] = Counter()
    for path in SYNTHEA.glob("*.json"):
        for entry in orjson.loads(path.read_bytes())["entry"]:
            resource = entry["resource"]
            if resource["resourceType"] == "Patient":
                language = demographics_from([resource], default_timezone="UTC").language
                counts[(language or "und").split("-")[0]] += 1
    return counts


@pytest.mark.skipif(not SYNTHEA.is_dir(), reason="shared Synthea data not present")
def test_the_new_languages_are_the_most_frequent_non_english_ones_and_the_docs_say_so(
    shipped: Library,
) -> None:
    counts = _preferred_languages()
    others = [lang for lang, _ in counts.most_common() if lang != "en"]
    assert set(others[:3]) == {"es", "pt", "zh"}  # Spanish, Portuguese 4 each, Chinese 3
    assert set(shipped.languages) == {"en", *others[:3]}
    docs = (REPO / "docs" / "content.md").read_text(encoding="utf-8")
    assert f"Portuguese {counts['pt']}, Chinese {counts['zh']}" in docs


def test_portuguese_is_graded_by_the_martins_formula_and_fits_its_bands(
    shipped_lint: list[VariantReport],
) -> None:
    portuguese = [r for r in shipped_lint if r.language == "pt"]
    assert len(portuguese) == 48 * 24  # every message but the framed mammogram variants
    assert all(r.ok and r.grade is not None and not r.needs_review for r in portuguese)
    long_basic = [
        r.grade for r in portuguese if r.channel == "email" and r.reading_level == "basic"
    ]
    assert max(g for g in long_basic if g is not None) < 6.5
    assert measure("Está na hora da sua vacina.", language="pt").formula == "flesch-martins"


def test_every_chinese_sms_is_ucs2_in_at_most_two_segments(
    shipped: Library, fields: dict[str, object]
) -> None:
    chinese = [k for k in shipped.variants if k.language == "zh" and k.channel == "sms"]
    assert len(chinese) == 48 * 6
    for key in chinese:
        rendered = render_message(
            shipped, message=key.message, language="zh", reading_level=str(key.reading_level),
            tone=str(key.tone), channel="sms", fields=fields, locale="zh_Hans_CN",
            timezone="America/Los_Angeles", detailed_consent=True,
        )  # fmt: skip
        info = sms_info(rendered.body)
        assert (rendered.used, info.encoding) == (key, "ucs2")
        assert info.segments <= 2, (key.label(), info.units)


def test_a_library_file_may_not_approve_words_no_formula_can_grade(tmp_path: Path) -> None:
    target = tmp_path / "library"
    shutil.copytree(LIBRARY_DIR, target)
    path = target / "zh" / "flu_shot_due.yaml"
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    document.update(state="approved", approved_by="someone", approved_at="2026-12-01")
    path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    problems = [p for r in lint_library(load_library(target)) if not r.ok for p in r.problems]
    assert problems == [
        "flu_shot_due/zh: approved in the file, but zh has no grade formula: ship it as a "
        "draft for a fluent clinician to review and approve"
    ]


@pytest.mark.parametrize(
    ("communication", "used"),
    [
        ([{"code": "en-US"}, {"code": "pt-BR", "preferred": True}], "pt"),
        ([{"code": "zh"}], "zh"),
        ([{"code": "zh-TW", "preferred": True}, {"code": "en"}], "zh"),
        ([{"code": "pt-PT"}, {"code": "es", "preferred": True}], "es"),
    ],
)
def test_the_preferred_communication_picks_the_library_language(
    shipped: Library, fields: dict[str, object], communication: list[dict[str, object]], used: str
) -> None:
    patient = {
        "resourceType": "Patient",
        "communication": [
            {"language": {"coding": [{"system": "urn:ietf:bcp:47", "code": c["code"]}]}}
            | ({"preferred": True} if c.get("preferred") else {})
            for c in communication
        ],
    }
    language = demographics_from([patient], default_timezone="UTC").language
    assert language is not None
    rendered = render_message(
        shipped, message="flu_shot_due", language=language, reading_level="basic",
        tone="friendly", channel="sms", fields=fields, locale=language.replace("-", "_"),
        timezone="America/New_York", detailed_consent=False,
    )  # fmt: skip
    assert rendered.used.language == used
    assert not rendered.language_fallback


@pytest.fixture
def chinese_client(rt: Runtime, shipped: Library) -> ClientFactory:
    """``chinese_client(role)``: the content API over the synced flu and generic messages."""
    from careloop.security.auth import create_user, issue_token
    from careloop.web.app import create_app

    app = create_app(rt)
    with rt.transaction() as session:
        service.sync_library(
            session, library=subset(shipped, keep={"flu_shot_due", "care_team_message"}),
            clock=rt.clock,
        )  # fmt: skip

    def make(role: str) -> TestClient:
        client = TestClient(app, raise_server_exceptions=False)
        with rt.transaction() as session:
            user = create_user(
                session, clock=rt.clock, username=f"{role}-zh",
                password="correct horse battery staple", role=role,
            )  # fmt: skip
            token = issue_token(session, clock=rt.clock, user=user).token
        client.headers["Authorization"] = f"Bearer {token}"
        return client

    return make


def _send_zh(rt: Runtime, fields: dict[str, object]):  # type: ignore[no-untyped-def]
    with rt.transaction() as session:
        return service.render_for_sending(
            session, message="flu_shot_due", language="zh", reading_level="basic",
            tone="friendly", channel="sms", fields=fields, locale="zh_Hans_CN",
            timezone="America/Los_Angeles", detailed_consent=False,
        )  # fmt: skip


def test_chinese_is_sent_only_after_a_person_reads_its_lint_and_approves_it(
    rt: Runtime, chinese_client: ClientFactory, fields: dict[str, object]
) -> None:
    before = _send_zh(rt, fields)
    assert (before.used.language, before.fallbacks[0]) == ("en", "language_unapproved")

    clinician = chinese_client("clinician")
    drafts = clinician.get(
        "/api/content/messages/flu_shot_due/versions",
        params={"language": "zh", "state": "draft"},
    ).json()
    assert len(drafts) == 24
    sms = next(
        d for d in drafts
        if (d["reading_level"], d["tone"], d["channel"]) == ("basic", "friendly", "sms")
    )  # fmt: skip
    lint = clinician.get(f"/api/content/versions/{sms['id']}/lint").json()
    assert (lint["ok"], lint["grade"], lint["needs_review"]) == (True, None, True)
    assert lint["segments"] <= 2

    approved = clinician.post(f"/api/content/versions/{sms['id']}/approve")
    assert approved.status_code == 200, approved.text
    assert approved.json()["state"] == "approved"
    after = _send_zh(rt, fields)
    assert (after.used.language, after.version_id, after.language_fallback) == (
        "zh", sms["id"], False,
    )  # fmt: skip
    assert "流感疫苗" in after.body
    assert sms_info(after.body).encoding == "ucs2"
