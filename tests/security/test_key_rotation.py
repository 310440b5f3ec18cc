"""Both keys rotate without losing data: ``careloop keys re-encrypt`` and ``re-index``
(issue 21, item 9)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from sqlalchemy import Text, select, type_coerce
from typer.testing import CliRunner

from careloop.cli import app as cli
from careloop.crypto import EncryptionKeyError, KeyRing, generate_key, signing_key, use_keyring
from careloop.governance.portal import contact_digest
from careloop.models import Caregiver, Patient, PortalContact
from careloop.records.contacts import find_patients_by_contact
from careloop.records.service import get_patient_record
from careloop.runtime import Runtime
from careloop.settings import get_settings
from tests.governance.conftest import A_PHONE, PATIENT_A, enrol, load

runner = CliRunner()


@pytest.fixture
def settings_env(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Set ``CARELOOP_SECURITY__*`` for this process (settings are read once, so re-read)."""

    def use(**values: str) -> None:
        for name, value in values.items():
            monkeypatch.setenv(f"CARELOOP_SECURITY__{name.upper()}", value)
        get_settings.cache_clear()

    yield use
    get_settings.cache_clear()


def _raw(rt: Runtime) -> list[str]:
    with rt.transaction() as session:
        values = [
            *session.scalars(select(type_coerce(Patient.contact_points, Text))),
            *session.scalars(select(type_coerce(Caregiver.contact_points, Text))),
            *session.scalars(select(type_coerce(PortalContact.value, Text))),
        ]
    return [v for v in values if v is not None]


def test_re_encrypt_moves_every_value_to_the_new_key(
    rt: Runtime, tmp_path: Path, settings_env
) -> None:  # type: ignore[no-untyped-def]
    old, new = generate_key(), generate_key()
    with use_keyring(KeyRing([old])):
        load(rt, tmp_path)
        enrol(rt, patient_id=PATIENT_A, system="sms", value=A_PHONE)
    before = _raw(rt)
    assert before
    assert all(v.startswith("fernet:") for v in before)

    settings_env(encryption_key=f"{new},{old}")
    url = rt.settings.database_url
    result = runner.invoke(cli, ["keys", "re-encrypt", "--database", url, "--json"])
    assert result.exit_code == 0, result.output
    counts = json.loads(result.output)
    assert counts["patients.contact_points"] >= 3
    assert counts["portal_contacts.value"] == 1

    after = _raw(rt)
    only_new, only_old = KeyRing([new]), KeyRing([old])
    for value in after:
        only_new.decrypt(value)
        with pytest.raises(EncryptionKeyError):
            only_old.decrypt(value)
    with use_keyring(only_new), rt.transaction() as session:
        record = get_patient_record(session, patient_id=PATIENT_A, timeline_limit=0)
        assert any(p.display == A_PHONE for p in record.contact_points)  # value is E.164


def test_re_index_restores_look_ups_under_a_new_secret_key(
    rt: Runtime, tmp_path: Path, settings_env
) -> None:  # type: ignore[no-untyped-def]
    settings_env(secret_key="the-first-secret-key-0123456789abcdef")
    settings = get_settings().model_copy(update={"database_url": rt.settings.database_url})
    keyed = dataclasses.replace(rt, settings=settings)
    load(keyed, tmp_path)
    enrol(keyed, patient_id=PATIENT_A, system="sms", value=A_PHONE)

    def found() -> tuple[list[str], bool]:
        with rt.transaction() as session:
            patients = find_patients_by_contact(session, system="sms", value=A_PHONE)
            digest = contact_digest(signing_key(get_settings()), "sms", A_PHONE)
            portal = session.scalar(select(PortalContact.id).where(PortalContact.digest == digest))
        return patients, portal is not None

    assert found() == ([PATIENT_A], True)
    settings_env(secret_key="the-second-secret-key-abcdef0123456789")
    assert found() == ([], False)  # the old digests are useless under the new key
    url = rt.settings.database_url
    result = runner.invoke(cli, ["keys", "re-index", "--database", url, "--json"])
    assert result.exit_code == 0, result.output
    assert found() == ([PATIENT_A], True)


def test_re_encrypt_without_a_key_is_a_clean_cli_error(rt: Runtime, settings_env) -> None:  # type: ignore[no-untyped-def]
    settings_env(encryption_key="")
    url = rt.settings.database_url
    result = runner.invoke(cli, ["keys", "re-encrypt", "--database", url])
    assert result.exit_code == 2
    assert "encryption_key" in result.output
    assert "Traceback" not in result.output
