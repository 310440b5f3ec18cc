"""The Subscription topics careloop offers: what it learns, by the FHIR types it is served as.

R4 has no SubscriptionTopic resource, so (as the R4 backport IG allows) a topic is a
canonical URL a client names in ``Subscription.criteria``; ``GET /fhir/metadata`` lists
them in the backport's ``capabilitystatement-subscriptiontopic-canonical`` extension.
"""

from __future__ import annotations

from dataclasses import dataclass

TOPIC_BASE = "https://careloop.dev/fhir/SubscriptionTopic/"
BACKPORT = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/"


@dataclass(frozen=True)
class Topic:
    name: str
    types: tuple[str, ...]
    description: str

    @property
    def url(self) -> str:
        return TOPIC_BASE + self.name


TOPICS: tuple[Topic, ...] = (
    Topic("alerts", ("Flag", "Task"), "an alert raised, acknowledged or resolved, and its task"),
    Topic("conversations", ("Communication",), "a message sent to or received from a patient"),
    Topic("plan-changes", ("CarePlan",), "a plan change proposed, approved or rejected"),
    Topic("program-results", ("MeasureReport",), "a care gap found by a program run"),
    Topic("bookings", ("Appointment",), "an appointment booked or changed"),
)
BY_URL = {t.url: t for t in TOPICS}


def topic_for(url: str) -> Topic | None:
    """The topic a ``Subscription.criteria`` names (its canonical URL, or the bare name)."""
    return BY_URL.get(url) or BY_URL.get(TOPIC_BASE + url)
