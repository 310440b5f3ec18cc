"""The demo pilot's oncology bundle passes the import's required-binding check: a refused
cancer Condition would leave the pilot's patients without check-ins or a fever alert."""

from __future__ import annotations

from datetime import UTC, datetime

from careloop.compose.pilot_checkins import oncology_bundle
from careloop.records.extract import ResourceProblem, index_resource


def test_every_resource_of_the_pilot_bundle_is_accepted() -> None:
    bundle, _ = oncology_bundle(datetime(2031, 7, 1, 9, tzinfo=UTC), patients=3)
    refused = []
    for entry in bundle["entry"]:
        try:
            index_resource(entry["resource"])
        except ResourceProblem as exc:
            refused.append((entry["resource"]["id"], str(exc)))
    assert refused == []
