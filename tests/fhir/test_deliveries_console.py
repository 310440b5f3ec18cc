"""The console's FHIR deliveries page: an operator sees a dead letter and sends it again."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from careloop.clock import FrozenClock
from careloop.fhir import delivery, subscriptions
from careloop.runtime import Runtime
from careloop.security.principal import CLI_OPERATOR
from careloop.settings import FhirSettings, Settings
from tests.fhir.receiver import Receiver, receiver
from tests.fhir.test_subscriptions import SECRET, subscription


@pytest.fixture
def hook() -> Iterator[Receiver]:
    yield from receiver()


def test_an_operator_sees_a_dead_letter_and_sends_it_again(
    rt: Runtime, clock: FrozenClock, api_client: Any, hook: Receiver
) -> None:
    rt.settings = Settings(
        database_url=rt.settings.database_url, fhir=FhirSettings(subscription_attempts=1)
    )
    with rt.transaction() as session:
        wanted = subscriptions.parse_subscription(subscription(hook.url), rt.settings.fhir)
        sub = subscriptions.create(session, wanted, clock=rt.clock, principal=CLI_OPERATOR)
        sub_id = sub.id
    hook.statuses = [502]
    delivery.run(rt, clock.now())
    admin = api_client("admin")
    page = admin.get("/console/fhir-deliveries")
    assert page.status_code == 200
    assert f'id="subscription-{sub_id}"' in page.text
    assert "error: handshake failed" in page.text
    row = page.text.split('id="dead-')[1].split("</tr>")[0]
    assert "handshake" in row
    assert "HTTP 502" in row
    note_id = row.split('"')[0]
    assert SECRET not in page.text
    sent = admin.post(f"/console/fhir-deliveries/{note_id}/retry", follow_redirects=False)
    assert sent.status_code in (200, 303)
    clock.advance(timedelta(seconds=1))
    delivery.run(rt, clock.now())
    after = admin.get("/console/fhir-deliveries").text
    assert "Dead letters" in after
    assert 'id="dead-' not in after
    assert len(hook.requests) == 2
    for role in ("clinician", "coordinator", "analyst"):
        assert api_client(role).get("/console/fhir-deliveries").status_code == 403
