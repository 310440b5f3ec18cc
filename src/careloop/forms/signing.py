"""What a signed form becomes: the document signed, its hash, and the FHIR that keeps them.

Pure functions (no I/O, ``signed_at`` passed in). :func:`read_answers` checks the answers
against the form and names the item that is wrong; :func:`signed_document` writes, in a
fixed layout, exactly what the patient saw and answered and who signed when (a drawn
signature is bound by its own SHA-256 inside the document); :func:`signed_resources`
builds the QuestionnaireResponse, the Consent (consent forms), the DocumentReference that
holds the document's bytes, and the Provenance whose ``signature`` carries the typed name
or the drawn image with the SHA-256 of the document in :data:`SHA256_EXTENSION`. Anyone can
check a signature later: hash the DocumentReference's attachment and compare.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from careloop.errors import InvalidInput
from careloop.forms.catalogue import KIND_SYSTEM, Form, FormItem, FormKind

SHA256_EXTENSION = "https://careloop.dev/fhir/StructureDefinition/signed-document-sha256"
SIGNATURE_TYPE = "urn:iso-astm:E1762-95:2013"
AUTHOR_SIGNATURE = ("1.2.840.10065.1.12.1.1", "Author's Signature")
CONSENT_SIGNATURE = ("1.2.840.10065.1.12.1.7", "Consent Signature")
DOCUMENT_TYPE = "text/plain; charset=utf-8"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
MAX_IMAGE_BYTES = 200_000
MAX_TEXT = {"string": 200, "text": 2000}

Answer = str | bool | int | date | tuple[str, str, str]


class SignatureKind(StrEnum):
    TYPED = "typed"
    DRAWN = "drawn"


@dataclass(frozen=True, slots=True)
class Signature:
    """The signer's typed full name, and the image they drew (drawn signatures)."""

    kind: SignatureKind
    name: str
    image: bytes | None = None

    def __post_init__(self) -> None:
        if not 2 <= len(self.name.strip()) <= 100:
            raise InvalidInput("type your full name to sign", field="signer_name")
        if self.kind is SignatureKind.DRAWN and not (
            self.image and self.image.startswith(PNG_MAGIC) and len(self.image) <= MAX_IMAGE_BYTES
        ):
            raise InvalidInput("draw your signature in the box", field="signature_image")

    @property
    def image_sha256(self) -> str | None:
        return hashlib.sha256(self.image).hexdigest() if self.image else None


@dataclass(frozen=True, slots=True)
class SignedForm:
    document: bytes
    sha256: str
    resources: list[dict[str, Any]]


def _answer(item: FormItem, raw: str) -> Answer:
    if item.type == "boolean":
        return raw in ("true", "on", "yes")
    if item.type == "integer":
        try:
            return int(raw)
        except ValueError:
            raise InvalidInput(f"{item.link_id}: a whole number", field=item.link_id) from None
    if item.type == "date":
        try:
            return date.fromisoformat(raw)
        except ValueError:
            raise InvalidInput(f"{item.link_id}: a date", field=item.link_id) from None
    if item.type == "choice":
        for option in item.options:
            if option[1] == raw:
                return option
        raise InvalidInput(f"{item.link_id}: choose one of the options", field=item.link_id)
    if len(raw) > MAX_TEXT[item.type]:
        raise InvalidInput(f"{item.link_id}: too long", field=item.link_id)
    return raw


def read_answers(form: Form, raw: dict[str, str]) -> dict[str, Answer]:
    """The answers, typed; a required item left empty (or a consent not agreed) is refused."""
    answers: dict[str, Answer] = {}
    for item in form.items:
        if item.type == "display":
            continue
        value = raw.get(item.link_id, "").strip()
        if not value and item.type != "boolean":
            if item.required:
                raise InvalidInput(f"{item.link_id}: please answer", field=item.link_id)
            continue
        answers[item.link_id] = _answer(item, value)
        if item.type == "boolean" and item.required and answers[item.link_id] is not True:
            raise InvalidInput(f"{item.link_id}: tick the box to agree", field=item.link_id)
    return answers


def _shown(answer: Answer) -> str:
    if isinstance(answer, tuple):
        return answer[2]
    if isinstance(answer, bool):
        return "yes" if answer else "no"
    return str(answer)


def signed_document(
    form: Form, answers: dict[str, Answer], *, signer: str, signature: Signature,
    signed_at: datetime,
) -> bytes:  # fmt: skip
    """The exact text signed: the form, every question with its answer, the signer, the time."""
    lines = [form.title, f"Form: {form.canonical} ({form.language})", f"Signer: {signer}", ""]
    for item in form.items:
        if item.type == "display":
            lines.append(item.text)
        else:
            answer = answers.get(item.link_id)
            lines.append(f"{item.text}\n  {'-' if answer is None else _shown(answer)}")
    lines += ["", f"Signed by: {signature.name.strip()}", f"Signed at: {signed_at.isoformat()}"]
    if signature.image_sha256:
        lines.append(f"Drawn signature: image/png sha256 {signature.image_sha256}")
    else:
        lines.append("Typed signature")
    return ("\n".join(lines) + "\n").encode()


def _answer_value(answer: Answer) -> dict[str, Any]:
    if isinstance(answer, tuple):
        return {"valueCoding": {"system": answer[0], "code": answer[1], "display": answer[2]}}
    if isinstance(answer, bool):
        return {"valueBoolean": answer}
    if isinstance(answer, int):
        return {"valueInteger": answer}
    if isinstance(answer, date):
        return {"valueDate": answer.isoformat()}
    return {"valueString": answer}


def signed_resources(
    form: Form, answers: dict[str, Answer], *, request_id: str, patient: str,
    signature: Signature, signed_at: datetime,
) -> SignedForm:  # fmt: skip
    """The FHIR a signed form is kept as (module docstring); ``patient`` is ``Patient/<id>``."""
    when = signed_at.isoformat()
    document = signed_document(
        form, answers, signer=patient, signature=signature, signed_at=signed_at
    )
    digest = hashlib.sha256(document).hexdigest()
    ids = {t: f"form-{request_id}-{suffix}" for t, suffix in
           (("QuestionnaireResponse", "qr"), ("DocumentReference", "doc"), ("Consent", "consent"),
            ("Provenance", "sig"))}  # fmt: skip
    response = {
        "resourceType": "QuestionnaireResponse",
        "id": ids["QuestionnaireResponse"],
        "questionnaire": form.canonical,
        "status": "completed",
        "subject": {"reference": patient},
        "authored": when,
        "author": {"reference": patient},
        "source": {"reference": patient},
        "item": [
            {"linkId": link_id, "answer": [_answer_value(answer)]}
            for link_id, answer in answers.items()
        ],
    }
    reference = {"reference": f"DocumentReference/{ids['DocumentReference']}"}
    document_ref = {
        "resourceType": "DocumentReference",
        "id": ids["DocumentReference"],
        "status": "current",
        "docStatus": "final",
        "type": {"coding": [{"system": KIND_SYSTEM, "code": str(form.kind)}], "text": form.title},
        "subject": {"reference": patient},
        "date": when,
        "author": [{"reference": patient}],
        "description": f"{form.title}, signed",
        "content": [
            {
                "attachment": {
                    "contentType": DOCUMENT_TYPE,
                    "language": form.language,
                    "data": base64.b64encode(document).decode(),
                    "size": len(document),
                    "title": form.title,
                    "creation": when,
                }
            }
        ],
        "context": {
            "related": [{"reference": f"QuestionnaireResponse/{ids['QuestionnaireResponse']}"}]
        },
    }
    resources: list[dict[str, Any]] = [response, document_ref]
    if form.kind is FormKind.CONSENT:
        resources.append(
            {
                "resourceType": "Consent",
                "id": ids["Consent"],
                "status": "active",
                "scope": {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/consentscope",
                            "code": "treatment",
                        }
                    ]
                },
                "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
                "patient": {"reference": patient},
                "dateTime": when,
                "performer": [{"reference": patient}],
                "sourceReference": reference,
                "policyRule": {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                            "code": "OPTIN",
                        }
                    ]
                },
                "provision": {"type": "permit", "period": {"start": when}},
            }
        )
    code, display = CONSENT_SIGNATURE if form.kind is FormKind.CONSENT else AUTHOR_SIGNATURE
    drawn = signature.kind is SignatureKind.DRAWN and signature.image is not None
    data = signature.image if drawn and signature.image else signature.name.strip().encode()
    provenance = {
        "resourceType": "Provenance",
        "id": ids["Provenance"],
        "target": [{"reference": f"{r['resourceType']}/{r['id']}"} for r in resources],
        "recorded": when,
        "agent": [
            {
                "type": {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/provenance-participant-type",
                            "code": "author",
                        }
                    ]
                },
                "who": {"reference": patient},
            }
        ],
        "signature": [
            {
                "extension": [{"url": SHA256_EXTENSION, "valueString": digest}],
                "type": [{"system": SIGNATURE_TYPE, "code": code, "display": display}],
                "when": when,
                "who": {"reference": patient},
                "targetFormat": DOCUMENT_TYPE,
                "sigFormat": "image/png" if drawn else "text/plain",
                "data": base64.b64encode(data).decode(),
            }
        ],
    }
    return SignedForm(document, digest, [*resources, provenance])
