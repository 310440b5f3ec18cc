"""A seeded careloop served by uvicorn on 127.0.0.1, and headless Chromium to drive it.

The database is a SQLite file with the bundled sample population, the message library,
one demo user per staff role, six weeks of home blood-pressure readings for one patient
(which raise a "not improving" alert with a proposed plan change, then a crisis alert), a
call task for the coordinators, and a portal contact for a patient. The clock is frozen
so time left on the worklist and decisions are the same on every run.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from sqlalchemy.orm import Session

from careloop.careteam import alerts
from careloop.careteam.intake import receive_observation
from careloop.cli.demo_run import DEMO_PRINCIPAL, sample_population_dir
from careloop.clock import FrozenClock
from careloop.content.library import load_library
from careloop.content.service import sync_library
from careloop.crypto import signing_key
from careloop.feedback.ruleset import Severity
from careloop.governance.portal import InMemoryCodeSender, enroll_portal_contact
from careloop.models import Patient
from careloop.records.importer import import_paths
from careloop.records.service import get_patient_record, list_patients
from careloop.runtime import Runtime, open_runtime
from careloop.security.rate_limit import Limit, RateLimiter, default_limits
from careloop.settings import SecuritySettings, Settings
from careloop.web.app import create_app
from careloop.web.console.demo_users import seed_demo_users
from careloop.web.portal.readings import observations_from_form

CHROMIUM = "/usr/bin/chromium"
NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "docs" / "screenshots"

pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="needs /usr/bin/chromium")


@dataclass
class Site:
    url: str
    runtime: Runtime
    code_sender: InMemoryCodeSender
    users: dict[str, tuple[str, str]]
    clinical_patient: str
    portal_patient: str
    portal_phone: str
    limiter: RateLimiter
    invite_patient: str
    """A patient with a mobile on the record and no portal account yet (the console invites)."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def as_mobile(session: Session, patient_id: str) -> None:
    """Record the patient's phones as their mobiles, as the EHR would send them: Synthea
    writes every phone as ``home``, and a text (a sign-in code) never goes to a home line."""
    patient = session.get(Patient, patient_id)
    assert patient is not None
    patient.contact_points = [
        {**cp, "use": "mobile"} if cp.get("system") == "phone" else cp
        for cp in patient.contact_points
    ]
    session.flush()


def _phone_of(record: Any) -> str | None:
    for cp in record.contact_points:
        if cp.system == "phone" and cp.value:
            return str(cp.value)
    return None


def _seed(rt: Runtime, clock: FrozenClock) -> tuple[dict[str, tuple[str, str]], str, str, str, str]:
    import_paths(
        rt.sessions,
        engine=rt.engine,
        paths=[sample_population_dir()],
        clock=clock,
        principal=DEMO_PRINCIPAL,
        default_timezone=rt.settings.records.default_timezone,
    )
    with rt.transaction() as session:
        sync_library(session, library=load_library(), clock=clock)
        users = {role: (name, pw) for role, name, pw in seed_demo_users(session, clock)}
        living = [p.id for p in list_patients(session, limit=100) if not p.deceased]
        records = {
            pid: get_patient_record(session, patient_id=pid, timeline_limit=0) for pid in living
        }
    with_phone = [pid for pid in living if _phone_of(records[pid])]
    clinical, portal, invite = with_phone[0], with_phone[1], with_phone[2]
    with rt.transaction() as session:
        # Synthea writes every phone as "home"; a text never goes to a home line (issue 15),
        # so the phones of the portal patient and of the one the console invites, which take
        # their sign-in codes, are their mobiles.
        for texted in (portal, invite):
            as_mobile(session, texted)
    # Six weeks of home BP that does not come down, then a reading in the crisis range.
    start = NOW - timedelta(days=41)
    for day, (systolic, diastolic) in enumerate(
        [(152, 92), (150, 94), (155, 95), (151, 93), (153, 92), (154, 96), (152, 95), (156, 97)]
    ):
        moment = start + timedelta(days=day * 5 + 1, hours=1)
        clock.set(moment)
        with rt.transaction() as session:
            for observation in observations_from_form(
                patient_fhir_id=records[clinical].sources[0],
                now=moment,
                systolic=str(systolic),
                diastolic=str(diastolic),
                glucose=str(118 + day * 3),
                weight=str(81.5 + day * 0.1),
            ):
                receive_observation(
                    session, observation, clock=clock, principal=DEMO_PRINCIPAL, source="device"
                )
    clock.set(NOW - timedelta(minutes=20))
    with rt.transaction() as session:
        for observation in observations_from_form(
            patient_fhir_id=records[clinical].sources[0],
            now=clock.now(),
            systolic="186",
            diastolic="112",
            glucose="",
            weight="",
        ):
            receive_observation(
                session, observation, clock=clock, principal=DEMO_PRINCIPAL, source="device"
            )
        alerts.create_task(
            session,
            patient_id=portal,
            rule_id="outreach-call-back",
            title="Patient asked for a call back",
            summary="Replied CALL to a screening reminder.",
            severity=Severity.HIGH,
            clock=clock,
            actor="system:test",
            program="colorectal-cancer-screening",
            team="care-coordination",
        )
        phone = _phone_of(records[portal])
        assert phone is not None
        enroll_portal_contact(
            session,
            key=signing_key(rt.settings),
            patient_id=portal,
            system="sms",
            value=phone,
            actor="user:staff",
            clock=clock,
        )
    clock.set(NOW)
    return users, clinical, portal, phone, invite


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    folder = tmp_path_factory.mktemp("web")
    clock = FrozenClock(NOW - timedelta(days=45))
    # Every test signs in from 127.0.0.1: lift the per-address sign-in limit for the suite.
    settings = Settings(
        database_url=f"sqlite:///{folder / 'careloop.db'}",
        security=SecuritySettings(signin_per_minute=1000),
    )
    rt = open_runtime(settings=settings, clock=clock)
    users, clinical, portal, phone, invite = _seed(rt, clock)
    app = create_app(rt)
    # The clock is frozen, so spent tokens never come back: the suite signs in to the portal
    # more often than the 3 codes per contact a real patient may ask for in 15 minutes.
    limiter = RateLimiter(
        default_limits(
            signin_per_minute=1000, webhook_per_second=settings.security.webhook_per_second
        )
    )
    limiter.set_limit("portal-code", Limit(capacity=100, per_second=0.0))
    app.state.rate_limiter = limiter
    sender = InMemoryCodeSender()
    app.state.code_sender = sender
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    yield Site(
        f"http://127.0.0.1:{port}", rt, sender, users, clinical, portal, phone, limiter, invite
    )
    server.should_exit = True
    thread.join(timeout=10)
    rt.close()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any, site: Site) -> Iterator[Any]:
    context = browser.new_context(base_url=site.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    tab = context.new_page()
    yield tab
    context.close()


@pytest.fixture
def phone_page(browser: Any, site: Site) -> Iterator[Any]:
    """A phone-sized browser (the portal is used on phones)."""
    context = browser.new_context(
        base_url=site.url,
        viewport={"width": 390, "height": 844},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
    )
    context.set_default_timeout(10_000)
    tab = context.new_page()
    yield tab
    context.close()


def screenshot(page: Any, name: str) -> None:
    """Save docs/screenshots/<name>.png when CARELOOP_SCREENSHOTS=1 (for the README)."""
    if os.environ.get("CARELOOP_SCREENSHOTS") != "1":
        return
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    target = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(target), full_page=True)


def sign_in(page: Any, site: Site, role: str) -> None:
    username, password = site.users[role]
    page.goto("/console/sign-in")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/console/**")


def fresh_code(site: Site, to: str, before: int) -> str:
    """The code sent after `before` codes: it leaves in a background task once the page is
    answered, so the previous sign-in's code may still be the last one for a moment."""
    deadline = time.monotonic() + 10
    while len(site.code_sender.sent) <= before and time.monotonic() < deadline:
        time.sleep(0.02)
    return site.code_sender.last_code_for(to)


def ask_for_code(page: Any, site: Site) -> str:
    """The portal's first step in English for the site's portal patient; the code sent."""
    page.goto("/portal/sign-in?lang=en")
    before = len(site.code_sender.sent)
    page.get_by_label("Your mobile number or email", exact=True).fill(site.portal_phone)
    page.get_by_role("button", name="Send me a code").click()
    page.get_by_label("The 6-digit code").wait_for()
    digits = "".join(ch for ch in site.portal_phone if ch.isdigit())
    wanted = "+" + (digits if len(digits) != 10 else "1" + digits)
    return fresh_code(site, wanted, before)


def portal_sign_in(page: Any, site: Site) -> None:
    page.get_by_label("The 6-digit code").fill(ask_for_code(page, site))
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/portal")
