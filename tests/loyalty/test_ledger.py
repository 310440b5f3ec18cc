"""The ledger: caps never exceeded (hypothesis, both databases), fulfilment, audit."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from loyalty_fixtures import add_patient, catalogue
from sqlalchemy import delete, select

from careloop.clock import FrozenClock
from careloop.errors import Conflict
from careloop.events import EventKind, list_events
from careloop.loyalty.earning import completed_streaks
from careloop.loyalty.ledger import (
    Fulfilment,
    Refusal,
    award,
    cancel,
    fulfil,
    rewards_of,
    year_totals,
)
from careloop.models import AuditEvent, Event, Patient, RewardEntry
from careloop.runtime import Runtime
from careloop.security.principal import CLI_OPERATOR, SYSTEM_WORKER

CATALOGUE = catalogue()


def _reset(rt: Runtime) -> None:
    with rt.transaction() as session:
        session.execute(delete(RewardEntry))
        session.execute(delete(Patient).where(Patient.id.in_(["a", "b"])))
        add_patient(session, "a")
        add_patient(session, "b")


@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["a", "b"]),
            st.sampled_from(["visit", "streak", "referral"]),
            st.integers(min_value=0, max_value=6),  # source key: repeats happen
            st.integers(min_value=0, max_value=500),  # days after New Year 2026
            st.booleans(),  # cancel what was just earned
        ),
        max_size=30,
    )
)
def test_caps_are_never_exceeded(rt: Runtime, clock: FrozenClock, attempts) -> None:  # type: ignore[no-untyped-def]
    _reset(rt)
    start = clock.now()
    for pid, reward, key, day, cancel_it in attempts:
        clock.set(start.replace(year=2026, month=1, day=1) + timedelta(days=day))
        with rt.transaction() as session:
            result = award(
                session, catalogue=CATALOGUE, reward_id=reward, patient_id=pid,
                source_key=f"k{key}", clock=clock, principal=SYSTEM_WORKER,
            )  # fmt: skip
            if result.entry is not None and cancel_it:
                cancel(
                    session, entry_id=result.entry.id, reason="test", clock=clock,
                    principal=CLI_OPERATOR,
                )  # fmt: skip
    clock.set(start)
    with rt.transaction() as session:
        for pid in ("a", "b"):
            for year in (2026, 2027):
                totals = year_totals(session, patient_id=pid, year=year)
                assert totals.value_cents <= CATALOGUE.compliance.annual_cap_cents
                for reward in CATALOGUE.rewards:
                    assert totals.count_by_reward.get(reward.id, 0) <= reward.max_per_year


def test_a_refused_award_says_which_cap_and_is_recorded(rt: Runtime, clock: FrozenClock) -> None:
    with rt.transaction() as session:
        add_patient(session, "a")
        results = [
            award(
                session, catalogue=CATALOGUE, reward_id=reward, patient_id="a", source_key=key,
                clock=clock, principal=SYSTEM_WORKER,
            ).refused
            for reward, key in [
                ("visit", "1"), ("visit", "1"), ("visit", "2"), ("visit", "3"),
                ("streak", "1"), ("streak", "2"),
            ]
        ]  # fmt: skip
        refused = list_events(session, kinds=[str(EventKind.REWARD_REFUSED)])
    # 1000 + 1000 = 2000 of a 2500 annual cap: a third visit passes the reward's cap, a 500
    # streak fits exactly, and the next 500 would pass the annual cap.
    assert results == [None, Refusal.DUPLICATE, None, Refusal.REWARD_CAP, None, Refusal.ANNUAL_CAP]
    assert [e.payload["refused"] for e in refused] == ["reward_cap", "annual_cap"]


def test_fulfilment_by_webhook_is_idempotent_and_audited(rt: Runtime, clock: FrozenClock) -> None:
    with rt.transaction() as session:
        add_patient(session, "a")
        entry = award(
            session, catalogue=CATALOGUE, reward_id="referral", patient_id="a",
            source_key="ref-1", clock=clock, principal=CLI_OPERATOR,
        ).entry  # fmt: skip
        assert entry is not None
        entry_id = entry.id
    with rt.transaction() as session:
        fulfil(
            session, entry_id=entry_id, how=Fulfilment.WEBHOOK, reference="gift-77", clock=clock,
            principal=SYSTEM_WORKER,
        )  # fmt: skip
        again = fulfil(
            session, entry_id=entry_id, how=Fulfilment.WEBHOOK, reference="gift-77", clock=clock,
            principal=SYSTEM_WORKER,
        )  # fmt: skip
        assert again.state == "fulfilled"
    with rt.transaction() as session:
        try:
            cancel(session, entry_id=entry_id, reason="x", clock=clock, principal=CLI_OPERATOR)
            raised = False
        except Conflict:
            raised = True
        (shown,) = rewards_of(session, patient_id="a")
        audited = session.scalars(
            select(AuditEvent.resource).where(AuditEvent.patient_id == "a")
        ).all()
        kinds = session.scalars(select(Event.kind).where(Event.patient_id == "a")).all()
    assert raised
    assert (shown.state, shown.fulfilment, shown.fulfilment_ref) == (
        "fulfilled",
        "webhook",
        "gift-77",
    )
    assert audited == ["reward_entry", "reward_entry"]
    assert list(kinds) == ["reward_earned", "reward_fulfilled"]


def test_streaks_complete_every_n_consecutive_weeks() -> None:
    from datetime import date

    weekly = [date(2026, 1, 5) + timedelta(weeks=i) for i in range(9)]
    assert completed_streaks(weekly, weeks=4) == ["2026-W05", "2026-W09"]
    gap = weekly[:3] + weekly[4:]
    assert completed_streaks(gap, weeks=4) == ["2026-W09"]
