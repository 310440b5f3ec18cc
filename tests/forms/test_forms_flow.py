"""A form sent to the phone, opened from its link, signed: what the record keeps (both DBs)."""

from __future__ import annotations

import base64
import hashlib
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from careloop.clock import FrozenClock
from careloop.crypto import signing_key
from careloop.forms.service import FormState, forms_of, link_token, send_form
from careloop.forms.signing import SHA256_EXTENSION
from careloop.models import FormRequest, OutboxMessage
from careloop.personalize.service import set_stated_preferences
from careloop.records.resources import get_resource
from careloop.runtime import Runtime
from careloop.security.principal import SYSTEM_WORKER
from tests.digitaltools.tools_fixtures import (
    consent_and_content,
    import_patients,
    reachable_patient,
)

BIRTH_DATE = "1968-04-02"  # reachable_patient's


def _seed(rt: Runtime, tmp_path: Path, *, language: str = "en-US") -> None:
    patient = reachable_patient("ana", phone="+15550100081", language=language)
    import_patients(rt, tmp_path, [[patient]])
    consent_and_content(rt, ["ana"])


def _send(rt: Runtime, form: str) -> str:
    with rt.transaction() as session:
        sent = send_form(
            session, patient_id="ana", form_id=form, clock=rt.clock, settings=rt.settings,
            principal=SYSTEM_WORKER,
        )  # fmt: skip
        assert sent.outbox_id is not None
        body = session.scalars(select(OutboxMessage.body)).one()
    token = link_token(signing_key(rt.settings), sent.request_id)
    assert f"/portal/forms/{token}" in body
    return token


def _resource(rt: Runtime, rtype: str, fhir_id: str) -> dict[str, Any]:
    with rt.transaction() as session:
        found = get_resource(session, resource_type=rtype, fhir_id=fhir_id)
    assert found is not None
    return found


def test_a_consent_signed_by_typed_name_is_kept_with_the_hash_of_what_was_signed(
    rt: Runtime, tmp_path: Path, api_client: Any
) -> None:
    _seed(rt, tmp_path)
    token = _send(rt, "consent-treatment")
    phone = api_client(None)

    page = phone.get(f"/portal/forms/{token}")
    assert page.status_code == 200
    assert "I agree that the care team" in page.text
    assert "Ana" not in page.text  # no name behind a bare link
    assert "Test" not in page.text

    signed = phone.post(
        f"/portal/forms/{token}",
        data={"agree": "true", "birth_date": BIRTH_DATE, "signer_name": "Test Ana"},
    )
    assert signed.status_code == 200
    assert "Your form is signed" in signed.text

    with rt.transaction() as session:
        [row] = forms_of(session, patient_id="ana")
        assert row.state == FormState.SIGNED
        assert row.signed_resources is not None
        resources = dict(r.split("/") for r in row.signed_resources)
        digest = row.document_sha256
    assert set(resources) == {"QuestionnaireResponse", "DocumentReference", "Consent", "Provenance"}
    document = _resource(rt, "DocumentReference", resources["DocumentReference"])
    signed_bytes = base64.b64decode(document["content"][0]["attachment"]["data"])
    assert "I agree that the care team" in signed_bytes.decode()
    assert "Signed by: Test Ana" in signed_bytes.decode()
    provenance = _resource(rt, "Provenance", resources["Provenance"])
    [signature] = provenance["signature"]
    assert signature["extension"] == [
        {"url": SHA256_EXTENSION, "valueString": hashlib.sha256(signed_bytes).hexdigest()}
    ]
    assert signature["extension"][0]["valueString"] == digest
    assert signature["who"] == {"reference": "Patient/ana"}
    assert (signature["sigFormat"], base64.b64decode(signature["data"])) == (
        "text/plain",
        b"Test Ana",
    )
    assert signature["type"][0]["code"] == "1.2.840.10065.1.12.1.7"  # consent signature
    consent = _resource(rt, "Consent", resources["Consent"])
    assert consent["status"] == "active"
    assert consent["sourceReference"] == {
        "reference": f"DocumentReference/{resources['DocumentReference']}"
    }

    assert phone.get(f"/portal/forms/{token}").status_code == 422  # signed: the link is spent


def test_the_form_names_what_is_missing_and_a_wrong_birth_date_locks_it_at_five(
    rt: Runtime, tmp_path: Path, api_client: Any
) -> None:
    _seed(rt, tmp_path, language="es-US")
    token = _send(rt, "intake")
    phone = api_client(None)
    assert "Registro de paciente nuevo" in phone.get(f"/portal/forms/{token}").text

    missing = phone.post(
        f"/portal/forms/{token}",
        data={"birth_date": BIRTH_DATE, "signer_name": "Test Ana", "allergies": "no"},
    )
    assert missing.status_code == 422
    assert "¿En qué le gustaría que le ayudemos en su visita?" in missing.text

    for _ in range(5):
        wrong = phone.post(
            f"/portal/forms/{token}",
            data={"reason": "tos", "allergies": "no", "birth_date": "1970-01-01",
                  "signer_name": "Test Ana"},
        )  # fmt: skip
        assert wrong.status_code == 422
    with rt.transaction() as session:
        row = session.scalars(select(FormRequest)).one()
        assert (row.state, row.failed_checks, row.signed_resources) == ("locked", 5, None)
    assert phone.get(f"/portal/forms/{token}").status_code == 422


def test_a_forged_or_expired_link_opens_nothing(
    rt: Runtime, clock: FrozenClock, tmp_path: Path, api_client: Any
) -> None:
    _seed(rt, tmp_path)
    token = _send(rt, "what-matters")
    request_id = token.split(".")[0]
    phone = api_client(None)
    assert phone.get(f"/portal/forms/{request_id}.AAAAAAAAAAAAAAAA").status_code == 422
    clock.set(clock.now() + timedelta(days=rt.settings.forms.link_days))
    assert phone.get(f"/portal/forms/{token}").status_code == 422


def test_what_was_signed_is_read_through_the_fhir_interface(
    rt: Runtime, tmp_path: Path, api_client: Any
) -> None:
    _seed(rt, tmp_path)
    token = _send(rt, "consent-treatment")
    api_client(None).post(
        f"/portal/forms/{token}",
        data={"agree": "true", "birth_date": BIRTH_DATE, "signer_name": "Test Ana"},
    )
    fhir = api_client("clinician")

    found = {
        rtype: fhir.get(f"/fhir/{rtype}", params={"patient": "ana"}).json()
        for rtype in ("QuestionnaireResponse", "Consent", "DocumentReference", "Provenance")
    }

    ids = {t: [e["resource"]["id"] for e in b.get("entry", [])] for t, b in found.items()}
    assert ids == {
        "QuestionnaireResponse": [f"form-{token.split('.')[0]}-qr"],
        "Consent": [f"form-{token.split('.')[0]}-consent"],
        "DocumentReference": [f"form-{token.split('.')[0]}-doc"],
        "Provenance": [f"form-{token.split('.')[0]}-sig"],
    }


def test_a_form_with_no_approved_translation_is_framed_in_the_patients_language(
    rt: Runtime, tmp_path: Path, api_client: Any
) -> None:
    _seed(rt, tmp_path, language="pt-BR")
    token = _send(rt, "consent-treatment")
    page = api_client(None).get(f"/portal/forms/{token}").text
    assert '<html lang="pt"' in page
    assert "Assine o formulário" in page  # the page around the form speaks Portuguese
    assert "Este formulário está em inglês" in page  # and says why the questions do not
    assert '<h1 lang="en">Consent to care and to text messages</h1>' in page


def test_the_form_page_follows_the_language_the_patient_chose_in_the_portal(
    rt: Runtime, tmp_path: Path, api_client: Any
) -> None:
    _seed(rt, tmp_path)  # the record says English
    with rt.transaction() as session:
        set_stated_preferences(
            session, clock=rt.clock, patient_id="ana", changes={"language": "zh-Hans"},
            actor="patient:ana",
        )  # fmt: skip
    token = _send(rt, "what-matters")
    page = api_client(None).get(f"/portal/forms/{token}").text
    assert '<html lang="zh-Hans"' in page
    assert "此表格是英文的" in page
