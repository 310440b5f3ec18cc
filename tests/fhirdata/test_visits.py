"""What an Appointment says about the visit, as properties: a video visit has no ride and nobody
coming along, a ride has nobody coming along, an escort is read only from an ``ESC``
RelatedPerson participant, and an Appointment that does not say who comes along says None."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from careloop.fhirdata.visits import (
    RIDE_EXTENSION,
    RIDE_PICKUP_EXTENSION,
    TELEHEALTH_LINK_EXTENSION,
    VIRTUAL_EXTENSION,
    escort_participant,
    visit_facts,
)

START = datetime(2026, 3, 5, 22, tzinfo=UTC)
PEOPLE = st.lists(st.sampled_from(["cg-1", "cg-2", "cg-3"]), unique=True, max_size=3)


@given(
    virtual=st.sampled_from([None, True, False]),
    ride=st.sampled_from([None, True, False]),
    escorts=PEOPLE,
    others=PEOPLE,
    link=st.sampled_from([None, "https://video.example/r/1"]),
)
def test_visit_facts_follow_the_appointment(
    virtual: bool | None, ride: bool | None, escorts: list[str], others: list[str], link: str | None
) -> None:
    extensions: list[dict[str, Any]] = []
    if virtual is not None:
        extensions.append({"url": VIRTUAL_EXTENSION, "valueBoolean": virtual})
    if ride is not None:
        extensions.append({"url": RIDE_EXTENSION, "valueBoolean": ride})
        pickup = (START - timedelta(minutes=45)).isoformat()
        extensions.append({"url": RIDE_PICKUP_EXTENSION, "valueDateTime": pickup})
    if link is not None:
        extensions.append({"url": TELEHEALTH_LINK_EXTENSION, "valueUrl": link})
    participants = [
        {"actor": {"reference": "Patient/p-1"}, "status": "accepted"},
        *(escort_participant(e) for e in escorts),
        # A RelatedPerson who is not marked as the escort does not come along.
        *({"actor": {"reference": f"RelatedPerson/{o}"}, "status": "accepted"} for o in others),
    ]
    appointment = {
        "resourceType": "Appointment",
        "extension": extensions,
        "participant": participants,
    }

    facts = visit_facts(appointment)

    if virtual:
        assert facts.visit == "telehealth"
        assert facts.telehealth_link == link
    elif ride:
        assert facts.visit == "ride"
        assert facts.pickup_at == START - timedelta(minutes=45)
    else:
        assert facts.visit == "in-person"
    if facts.visit != "telehealth":
        assert facts.telehealth_link is None
    if facts.visit != "ride":
        assert facts.pickup_at is None
    if not escorts and ride is None:
        assert facts.escorts is None  # the record does not say: every designated caregiver
    elif facts.visit == "in-person":
        assert facts.escorts == tuple(escorts)
    else:
        assert facts.escorts == ()
