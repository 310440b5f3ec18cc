"""Contact points are encrypted at rest and still found by an inbound phone or email."""

from __future__ import annotations

from cryptography.fernet import Fernet
from sqlalchemy import text

from careloop.crypto import KeyRing, use_keyring
from careloop.records import service
from careloop.records.contacts import find_patients_by_contact
from careloop.records.importer import import_paths
from careloop.runtime import Runtime
from careloop.security.principal import CLI_OPERATOR
from tests.conftest import FIXTURES


def _import(rt: Runtime) -> None:
    import_paths(
        rt.sessions,
        engine=rt.engine,
        paths=[FIXTURES / "fhir" / "good_bundle.json", FIXTURES / "fhir" / "second_source.json"],
        clock=rt.clock,
        principal=CLI_OPERATOR,
        default_timezone="UTC",
        workers=0,
    )


def test_with_a_key_the_database_holds_no_clear_contact_points(rt: Runtime) -> None:
    with use_keyring(KeyRing([Fernet.generate_key().decode()])):
        _import(rt)
        with rt.transaction() as session:
            stored = session.execute(text("SELECT contact_points FROM patients")).scalars().all()
            caregiver = session.execute(text("SELECT contact_points FROM caregivers")).scalar()
            record = service.get_patient_record(session, patient_id="fx-pat-1")
    assert stored[0].startswith("fernet:")
    assert "5550100001" not in stored[0]
    assert "example.org" not in stored[0]
    assert caregiver.startswith("fernet:")
    assert {cp.value for cp in record.contact_points} >= {"+15550100001", "ana@example.org"}


def test_an_inbound_number_or_email_finds_its_patient_whatever_the_formatting(
    rt: Runtime,
) -> None:
    with use_keyring(KeyRing([Fernet.generate_key().decode()])):
        _import(rt)
        with rt.transaction() as session:
            by_phone = find_patients_by_contact(session, system="sms", value="+1 (555) 010-0002")
            by_email = find_patients_by_contact(session, system="email", value=" ANA@example.org")
            caregiver = find_patients_by_contact(session, system="phone", value="5550100003")
            with_caregivers = find_patients_by_contact(
                session, system="phone", value="5550100003", include_caregivers=True
            )
    assert by_phone == ["fx-pat-1"]
    assert by_email == ["fx-pat-1"]
    assert caregiver == []
    assert with_caregivers == ["fx-pat-1"]
