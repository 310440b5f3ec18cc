"""Bearer tokens verified recently are not read again (issue 18 item 4), and a revocation,
an expiry or a changed account still closes the door: at once in this process, within
``security.token_cache_seconds`` from another."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select, text

from careloop.clock import FrozenClock
from careloop.models import ApiToken, User
from careloop.runtime import Runtime
from careloop.security.auth import revoke_token_value
from careloop.security.token_cache import TokenCache, VerifiedToken, forget_all
from careloop.settings import Settings
from tests.statements import statements


def _token_reads(seen: list[str]) -> int:
    return sum("api_tokens" in s for s in seen)


def _token(client: Any) -> str:
    return str(client.headers["Authorization"]).removeprefix("Bearer ")


def _fake_time(client: Any, ttl: float = 5.0) -> list[float]:
    """Give the client's app a token cache on a clock the test moves."""
    now = [1000.0]
    client.app.state.token_cache = TokenCache(ttl, monotonic=lambda: now[0])
    return now


def test_a_busy_token_is_read_from_the_database_once_a_minute(
    rt: Runtime, api_client: Any, clock: FrozenClock
) -> None:
    nurse = api_client("clinician")
    _fake_time(nurse, ttl=3600)
    assert nurse.get("/api/auth/me").status_code == 200  # read, verified, remembered
    with statements(rt.engine) as seen:
        for _ in range(3):
            assert nurse.get("/api/auth/me").status_code == 200
    assert _token_reads(seen) == 0
    clock.advance(timedelta(minutes=2))  # its use must be recorded again: read and touched
    with statements(rt.engine) as seen:
        assert nurse.get("/api/auth/me").status_code == 200
    assert _token_reads(seen) == 1
    with rt.transaction() as session:
        row = session.scalar(select(ApiToken).where(ApiToken.name == "api"))
        assert row is not None
        assert row.last_used_at == clock.now()


def test_a_token_revoked_in_this_process_is_refused_at_once(rt: Runtime, api_client: Any) -> None:
    nurse = api_client("clinician")
    _fake_time(nurse, ttl=3600)
    assert nurse.get("/api/auth/me").status_code == 200
    with rt.transaction() as session:
        revoke_token_value(session, clock=rt.clock, token=_token(nurse))
    assert nurse.get("/api/auth/me").status_code == 401


def test_an_account_deactivated_in_this_process_is_refused_at_once(
    rt: Runtime, api_client: Any
) -> None:
    nurse = api_client("clinician")
    _fake_time(nurse, ttl=3600)
    assert nurse.get("/api/auth/me").status_code == 200
    with rt.transaction() as session:
        for user in session.scalars(select(User)):
            user.active = False
    assert nurse.get("/api/auth/me").status_code == 401


def test_accounts_deleted_in_bulk_in_this_process_are_refused_at_once(
    rt: Runtime, api_client: Any
) -> None:
    nurse = api_client("clinician")
    _fake_time(nurse, ttl=3600)
    assert nurse.get("/api/auth/me").status_code == 200
    with rt.transaction() as session:  # as erasure removes a patient's portal accounts
        session.execute(delete(ApiToken))
    assert nurse.get("/api/auth/me").status_code == 401


def test_a_token_revoked_by_another_process_is_refused_within_the_bound(
    rt: Runtime, api_client: Any
) -> None:
    nurse = api_client("clinician")
    now = _fake_time(nurse, ttl=5.0)
    assert nurse.get("/api/auth/me").status_code == 200
    with rt.engine.begin() as conn:  # as the CLI in another process would: no ORM event here
        conn.execute(text("UPDATE api_tokens SET revoked_at = expires_at"))
    now[0] += 4.0
    assert nurse.get("/api/auth/me").status_code == 200  # the documented bound, not beyond
    now[0] += 1.5
    assert nurse.get("/api/auth/me").status_code == 401


def test_an_expired_token_is_refused_though_verified_a_moment_ago(
    api_client: Any, clock: FrozenClock
) -> None:
    nurse = api_client("clinician")
    _fake_time(nurse, ttl=3600)
    assert nurse.get("/api/auth/me").status_code == 200
    clock.advance(timedelta(hours=13))  # tokens live 12 hours
    assert nurse.get("/api/auth/me").status_code == 401


def test_the_quick_intake_route_refuses_a_revoked_token(rt: Runtime, api_client: Any) -> None:
    nurse = api_client("clinician")
    _fake_time(nurse, ttl=3600)
    body = {"resourceType": "Observation", "status": "final"}
    assert nurse.post("/fhir/Observation", json=body).status_code != 401
    with rt.transaction() as session:
        revoke_token_value(session, clock=rt.clock, token=_token(nurse))
    assert nurse.post("/fhir/Observation", json=body).status_code == 401


def test_a_cache_of_zero_seconds_reads_every_token(rt: Runtime, api_client: Any) -> None:
    settings = Settings(database_url=rt.settings.database_url)
    settings.security.token_cache_seconds = 0
    nurse = api_client("clinician")
    nurse.app.state.runtime = Runtime(
        settings=settings, clock=rt.clock, engine=rt.engine, sessions=rt.sessions
    )
    with statements(rt.engine) as seen:
        for _ in range(3):
            assert nurse.get("/api/auth/me").status_code == 200
    assert _token_reads(seen) == 3


def test_entries_last_the_ttl_and_the_cache_stays_bounded() -> None:
    now = [0.0]
    cache = TokenCache(5.0, max_entries=2, monotonic=lambda: now[0])
    verified = VerifiedToken.__new__(VerifiedToken)
    cache.put("a", verified)
    now[0] = 5.0
    assert cache.get("a") is verified
    now[0] = 5.1
    assert cache.get("a") is None
    cache.put("a", verified)
    cache.put("b", verified)
    cache.put("c", verified)  # full: started over
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (None, None, verified)
    forget_all()
    assert cache.get("c") is None
