"""Administrative actions need a recent sign-in, not just a live token (issue 21, item 7)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from careloop.clock import FrozenClock
from careloop.runtime import Runtime


def test_the_audit_trail_needs_a_sign_in_from_the_last_fifteen_minutes(
    rt: Runtime, api_client: Any, clock: FrozenClock
) -> None:
    admin = api_client("admin")  # its token was issued (signed in) now
    assert admin.get("/api/audit").status_code == 200
    clock.advance(timedelta(minutes=16))
    stale = admin.get("/api/audit")
    assert stale.status_code == 401
    assert "sign in again" in stale.json()["error"]
    assert admin.get("/api/auth/me").status_code == 200  # the token itself still works
    assert api_client("admin").get("/api/audit").status_code == 200  # a fresh sign-in
