"""The CapabilityStatement: built from the same tables the server runs on, so it lists
exactly the resources, interactions, search parameters and operations that work."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from careloop import __version__
from careloop.fhir.params import COMMON_PARAMS, SEARCH_PARAMS
from careloop.fhir.topics import BACKPORT, TOPICS

CREATABLE = ("Observation", "QuestionnaireResponse", "MedicationAdministration")
"""Types accepted by ``POST``: the inputs of the feedback loop (readings, check-ins)."""
EXPORT_OPERATIONS = (("export", "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export"),)
PATIENT_EXPORT = ("export", "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/patient-export")
GROUP_EXPORT = ("export", "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/group-export")
INCLUDES = {
    rtype: [f"{rtype}:{p.name}" for p in params if p.type == "reference"]
    for rtype, params in SEARCH_PARAMS.items()
}


def _resource(rtype: str) -> dict[str, Any]:
    interactions = ["read", "search-type"]
    if rtype in CREATABLE:
        interactions.append("create")
    entry: dict[str, Any] = {
        "type": rtype,
        "interaction": [{"code": code} for code in interactions],
        "versioning": "versioned",
        "readHistory": False,
        "updateCreate": False,
        "conditionalCreate": rtype in CREATABLE,
        "searchParam": [
            {"name": p.name, "type": str(p.type), "documentation": p.documentation}
            for p in (*COMMON_PARAMS, *SEARCH_PARAMS[rtype])
        ],
    }
    if INCLUDES[rtype]:
        entry["searchInclude"] = INCLUDES[rtype]
    if rtype == "Patient":
        entry["operation"] = [{"name": PATIENT_EXPORT[0], "definition": PATIENT_EXPORT[1]}]
    return entry


def _subscription() -> dict[str, Any]:
    """Subscription (R4 backport, rest-hook) with the topics it offers."""
    return {
        "type": "Subscription",
        "profile": f"{BACKPORT}backport-subscription",
        "interaction": [{"code": c} for c in ("read", "search-type", "create", "delete")],
        "searchParam": [
            {"name": n, "type": t}
            for n, t in (
                ("_id", "token"),
                ("status", "token"),
                ("criteria", "string"),
                ("url", "uri"),
                ("type", "token"),
            )
        ],
        "operation": [
            {
                "name": "status",
                "definition": "http://hl7.org/fhir/uv/subscriptions-backport/OperationDefinition/backport-subscription-status",
            }
        ],
        "extension": [
            {
                "url": f"{BACKPORT}capabilitystatement-subscriptiontopic-canonical",
                "valueCanonical": topic.url,
            }
            for topic in TOPICS
        ],
    }


def capability_statement(*, base_url: str, token_url: str, now: datetime) -> dict[str, Any]:
    """``GET /fhir/metadata``: an R4 (4.0.1) server statement with its SMART security."""
    resources = [_resource(rtype) for rtype in sorted(SEARCH_PARAMS)]
    resources.append(
        {
            "type": "Group",
            "interaction": [],
            "operation": [{"name": GROUP_EXPORT[0], "definition": GROUP_EXPORT[1]}],
        }
    )
    resources.append(_subscription())
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": now.date().isoformat(),
        "kind": "instance",
        "software": {"name": "careloop", "version": __version__},
        "implementation": {"description": "careloop FHIR R4 server", "url": base_url},
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json", "json"],
        "instantiates": ["http://hl7.org/fhir/uv/bulkdata/CapabilityStatement/bulk-data"],
        "rest": [
            {
                "mode": "server",
                "security": {
                    "cors": False,
                    "service": [
                        {
                            "coding": [
                                {
                                    "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                                    "code": "SMART-on-FHIR",
                                }
                            ],
                            "text": "Bearer tokens: careloop API tokens, or SMART Backend "
                            "Services (client_credentials, private_key_jwt)",
                        }
                    ],
                    "extension": [
                        {
                            "url": "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
                            "extension": [{"url": "token", "valueUri": token_url}],
                        }
                    ],
                },
                "resource": resources,
                "interaction": [{"code": "transaction"}, {"code": "batch"}],
                "operation": [
                    {"name": name, "definition": definition}
                    for name, definition in EXPORT_OPERATIONS
                ],
            }
        ],
    }
