"""A patient row and a small catalogue for the loyalty tests."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from careloop.loyalty.catalogue import Catalogue, parse_catalogue
from careloop.models import Patient

CREATED = datetime(2026, 1, 1, tzinfo=UTC)


def add_patient(session: Session, pid: str, *, language: str = "en") -> None:
    session.add(
        Patient(
            id=pid, language=language, gender="female", birth_date=None, timezone="UTC",
            timezone_source="default", deceased=False, contact_points=[],
            created_at=CREATED, updated_at=CREATED,
        )
    )  # fmt: skip
    session.flush()


def catalogue_data(**compliance: Any) -> dict[str, Any]:
    return {
        "compliance": {
            "approved_by": "Compliance office",
            "approved_at": "2026-12-01",
            "per_reward_cap_cents": 1500,
            "annual_cap_cents": 2500,
            "disallowed_services": ["http://www.ama-assn.org/go/cpt|99213"],
            **compliance,
        },
        "rewards": [
            {
                "id": "visit",
                "title": "Preventive visit",
                "trigger": {"kind": "program_completed", "programs": ["annual-wellness-visit"]},
                "services": ["http://snomed.info/sct|185349003"],
                "value_cents": 1000,
                "max_per_year": 2,
            },
            {
                "id": "streak",
                "title": "Four weeks of check-ins",
                "trigger": {"kind": "checkin_streak", "weeks": 4},
                "value_cents": 500,
                "max_per_year": 3,
            },
            {
                "id": "referral",
                "title": "Referral",
                "trigger": {"kind": "staff"},
                "value_cents": 700,
                "max_per_year": 1,
            },
        ],
    }


def catalogue() -> Catalogue:
    return parse_catalogue(catalogue_data(), source="test.yaml")
