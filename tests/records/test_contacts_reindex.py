"""A STOP that cannot be lost: contact look-ups survive a key change. Imported without a
secret key and served with one, the index is stale; `careloop contacts reindex` (or the
start of a serving process) rebuilds it, and a stale index refuses to serve."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import orjson
import pytest
from sqlalchemy.orm import sessionmaker
from typer.testing import CliRunner

from careloop.cli import app
from careloop.clock import SystemClock
from careloop.db import make_engine, migrate
from careloop.errors import Conflict
from careloop.records.contacts import find_patients_by_contact
from careloop.records.contacts_index import (
    current_fingerprint,
    ensure_contact_index,
    is_stale,
    reindex_if_stale,
    require_current,
    stored_fingerprint,
)
from careloop.records.importer import import_paths
from careloop.runtime import Runtime
from careloop.security.principal import CLI_OPERATOR
from careloop.settings import get_settings
from tests.conftest import FIXTURES


@pytest.fixture
def keyless(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    monkeypatch.delenv("CARELOOP_SECURITY__SECRET_KEY", raising=False)
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


def _import(rt: Runtime) -> None:
    import_paths(
        rt.sessions,
        engine=rt.engine,
        paths=[FIXTURES / "fhir" / "good_bundle.json"],
        clock=rt.clock,
        principal=CLI_OPERATOR,
        default_timezone="UTC",
        workers=0,
    )


def _finds(rt: Runtime) -> list[str]:
    with rt.transaction() as session:
        return find_patients_by_contact(session, system="phone", value="+15550100001")


def _with_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARELOOP_SECURITY__SECRET_KEY", "rotated-" + "k" * 40)
    get_settings.cache_clear()


def test_a_key_set_after_import_is_caught_and_reindexed_at_start(
    rt: Runtime, keyless: pytest.MonkeyPatch
) -> None:
    _import(rt)
    ensure_contact_index(rt)
    assert _finds(rt) == ["fx-pat-1"]
    _with_key(keyless)
    with rt.transaction() as session:
        stale = is_stale(session)
        with pytest.raises(Conflict):
            require_current(session)
    missed = _finds(rt)
    rebuilt = ensure_contact_index(rt)
    assert stale
    assert missed == []  # what a STOP would have met before this fix
    assert rebuilt is not None
    assert _finds(rt) == ["fx-pat-1"]


def test_careloop_contacts_reindex_rebuilds_with_the_current_key(
    rt: Runtime, keyless: pytest.MonkeyPatch, database_url: str
) -> None:
    runner = CliRunner()
    imported = runner.invoke(
        app, ["import", str(FIXTURES / "fhir" / "good_bundle.json"), "--database", database_url]
    )
    _with_key(keyless)
    result = runner.invoke(app, ["contacts", "reindex", "--database", database_url, "--json"])
    again = runner.invoke(app, ["contacts", "reindex", "--database", database_url, "--json"])
    assert imported.exit_code == 0
    assert result.exit_code == 0, result.output
    assert orjson.loads(result.stdout)["key_changed"] is True
    assert orjson.loads(again.stdout)["key_changed"] is False
    assert orjson.loads(again.stdout)["entries"] >= 1
    assert _finds(rt) == ["fx-pat-1"]


def test_two_processes_starting_together_on_postgresql_do_not_collide(
    empty_postgresql_url: str,
) -> None:
    """Two workers started at once both find no index: the second waits for the first's
    rebuild and then sees it current, instead of failing on the state row (CI saw this)."""
    engine = make_engine(empty_postgresql_url)
    migrate(engine)
    sessions = sessionmaker(bind=engine)
    now = SystemClock().now()
    results: list[object] = []
    holder = sessions()
    assert reindex_if_stale(holder, now=now) is None  # holds the state row, not committed

    def second() -> None:
        with sessions() as session, session.begin():
            results.append(reindex_if_stale(session, now=now))

    thread = threading.Thread(target=second)
    thread.start()
    thread.join(timeout=1.0)
    assert thread.is_alive(), "the second start must wait for the first's rebuild"
    holder.commit()
    holder.close()
    thread.join(timeout=30)
    assert results == [None]
    with sessions() as session:
        assert stored_fingerprint(session) == current_fingerprint()
    engine.dispose()


def test_a_stop_still_finds_its_patient_after_an_import_without_the_key_rebuilt_the_index(
    rt: Runtime, keyless: pytest.MonkeyPatch
) -> None:
    """`careloop serve` runs with the key; a later `careloop import` without it rebuilds the
    look-up under the fallback key. The running server's next STOP must still find its patient."""
    from careloop.channels.twilio_webhooks import parse_inbound_sms
    from careloop.outreach.replies import senders

    _import(rt)
    _with_key(keyless)
    ensure_contact_index(rt)  # the server starts with its key
    keyless.delenv("CARELOOP_SECURITY__SECRET_KEY")
    get_settings.cache_clear()
    with rt.transaction() as session:
        reindex_if_stale(session, now=rt.clock.now())  # what the keyless import does at its end
    _with_key(keyless)  # back in the serving process
    with rt.transaction() as session:
        stop = parse_inbound_sms(
            {"From": "+15550100001", "To": "+15550100000", "Body": "STOP", "MessageSid": "SM1"},
            received_at=rt.clock.now(),
        )
        found = senders(session, stop)
        current = not is_stale(session)
    assert found == ["fx-pat-1"]
    assert current
