"""FHIR References: the literal ``Type/id`` a resource points at, and the id in it."""

from __future__ import annotations

from collections.abc import Mapping

URN_UUID = "urn:uuid:"


def reference_of(value: object) -> str | None:
    """``{"reference": "Patient/123"}`` → ``"Patient/123"``; None when there is none."""
    if isinstance(value, Mapping):
        ref = value.get("reference")
        if isinstance(ref, str) and ref:
            return ref
    return None


def reference_id(reference: str) -> str:
    """The id part of ``Type/id``, ``https://.../Type/id``, ``urn:uuid:id`` or a bare id."""
    if reference.startswith(URN_UUID):
        return reference.removeprefix(URN_UUID)
    return reference.rsplit("/", 1)[-1]


def patient_id(reference: object) -> str | None:
    """The patient id of a ``Patient/id`` reference string; None for any other target."""
    if isinstance(reference, str) and reference.startswith("Patient/"):
        return reference.removeprefix("Patient/") or None
    return None


def target_id(value: object) -> str | None:
    """The id a Reference points at (``{"reference": "Patient/123"}`` → ``"123"``), or None."""
    ref = reference_of(value)
    return reference_id(ref) if ref else None


def typed_target_id(value: object, resource_type: str) -> str | None:
    """The id a Reference points at when it points at a ``resource_type``, else None."""
    ref = reference_of(value)
    return reference_id(ref) if ref and ref.startswith(f"{resource_type}/") else None
