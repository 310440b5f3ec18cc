"""A deployment that sets only its public URL sends patients links to it, not to the
development address the link settings default to; a link set explicitly still wins."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import select
from tests.digitaltools.tools_fixtures import (
    consent_and_content,
    import_patients,
    reachable_patient,
)

from careloop.access.offers import booking_url
from careloop.forms.service import send_form
from careloop.models import OutboxMessage
from careloop.outreach.config import outreach_settings
from careloop.runtime import Runtime
from careloop.security.principal import SYSTEM_WORKER
from careloop.settings import SecuritySettings, Settings

PUBLIC = "https://care.example.org"


def _public(settings: Settings) -> Settings:
    return settings.model_copy(update={"security": SecuritySettings(public_base_url=PUBLIC)})


def test_message_links_follow_the_public_url_when_not_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("BOOKING_LINK", "PORTAL_LINK", "TELEHEALTH_LINK"):
        monkeypatch.delenv(f"CARELOOP_OUTREACH__{name}", raising=False)
    own, _ = outreach_settings(_public(Settings()))

    assert (own.booking_link, own.portal_link, own.telehealth_link) == (
        f"{PUBLIC}/portal/visits",
        f"{PUBLIC}/portal",
        f"{PUBLIC}/portal/video",
    )
    assert booking_url(_public(Settings()), "offer1").startswith(f"{PUBLIC}/portal/book/")


def test_a_link_set_explicitly_wins_over_the_public_url(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CARELOOP_OUTREACH__PORTAL_LINK", "https://portal.example.org/p")
    own, _ = outreach_settings(_public(Settings()))

    assert own.portal_link == "https://portal.example.org/p"
    assert own.booking_link == f"{PUBLIC}/portal/visits"


def test_a_form_link_sent_to_the_phone_is_under_the_public_url(rt: Runtime, tmp_path: Path) -> None:
    rt = replace(rt, settings=_public(rt.settings))
    import_patients(rt, tmp_path, [[reachable_patient("ana", phone="+15550100081")]])
    consent_and_content(rt, ["ana"])
    with rt.transaction() as session:
        sent = send_form(
            session, patient_id="ana", form_id="intake", clock=rt.clock,
            settings=rt.settings, principal=SYSTEM_WORKER,
        )  # fmt: skip
        body = session.scalars(select(OutboxMessage.body)).one()

    assert sent.link.startswith(f"{PUBLIC}/portal/forms/")
    assert sent.link in body
    assert "127.0.0.1" not in body
