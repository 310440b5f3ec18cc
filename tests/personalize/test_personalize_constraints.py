"""Hard constraints are never violated, whatever the patient, zone, clock or model."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.personalize.conftest import ALL_CHANNELS, PROGRAM, make_snapshot

from careloop.personalize.actions import SendWindow
from careloop.personalize.constraints import RemovalReason
from careloop.personalize.engine import EngineModel, PopulationBatch, decide, decide_batch
from careloop.personalize.profile import QuietHours

ZONES = [
    "America/New_York",
    "Europe/London",
    "Australia/Sydney",
    "Asia/Kolkata",
    "America/St_Johns",
    "Pacific/Chatham",
    "UTC",
]
# Days around daylight-saving changes in both hemispheres, plus ordinary days.
DST_DAYS = [
    datetime(2026, 3, 7, tzinfo=UTC),
    datetime(2026, 3, 28, tzinfo=UTC),
    datetime(2026, 4, 4, tzinfo=UTC),
    datetime(2026, 9, 26, tzinfo=UTC),
    datetime(2026, 10, 24, tzinfo=UTC),
    datetime(2026, 10, 31, tzinfo=UTC),
    datetime(2026, 6, 15, tzinfo=UTC),
]
MODEL = EngineModel.new(PROGRAM.action_space)

channel_sets = st.frozensets(st.sampled_from(sorted(ALL_CHANNELS)))
quiet_hours = st.builds(
    QuietHours,
    st.integers(0, 47).map(lambda x: x * 30),
    st.integers(0, 47).map(lambda x: x * 30),
)
moments = st.builds(
    lambda day, minutes: day + timedelta(minutes=minutes),
    st.sampled_from(DST_DAYS),
    st.integers(0, 3 * 24 * 60),
)


@settings(max_examples=150, deadline=None)
@given(
    consented=channel_sets,
    contacts=channel_sets,
    zone=st.sampled_from(ZONES),
    quiet=quiet_hours,
    deceased=st.booleans(),
    opted_out=st.booleans(),
    recent_days=st.lists(st.integers(0, 10), max_size=5),
    now=moments,
    seed=st.integers(0, 2**16),
)
def test_no_decision_ever_breaks_a_hard_constraint(
    consented, contacts, zone, quiet, deceased, opted_out, recent_days, now, seed
):
    recent = tuple(now - timedelta(days=d, hours=1) for d in recent_days)
    snapshot = make_snapshot(
        consented=consented,
        contacts=contacts,
        timezone=zone,
        quiet=quiet,
        deceased=deceased,
        opted_out=opted_out,
        recent=recent,
    )
    decision = decide(
        snapshot=snapshot,
        program=PROGRAM,
        history=None,
        model=MODEL,
        now=now,
        rng=np.random.default_rng(seed),
    )
    in_budget = sum(1 for d in recent_days if d < 7) < 3
    if decision.action is None:
        assert decision.removals
        assert decision.propensity is None
        return
    assert not deceased
    assert not opted_out
    assert in_budget
    assert decision.action.channel in consented & contacts
    assert decision.send_at is not None
    assert decision.send_at >= now
    local = decision.send_at.astimezone(ZoneInfo(zone))
    minute = local.hour * 60 + local.minute
    window = SendWindow.parse(decision.action.send_window)
    assert window.start_minute <= minute < window.end_minute
    assert not quiet.contains(minute)
    assert decision.propensity is not None
    assert 0 < decision.propensity <= 1


def test_every_removal_has_a_named_reason():
    snapshot = make_snapshot(
        consented=frozenset({"sms", "email"}),
        contacts=frozenset({"sms", "voice"}),
        quiet=QuietHours(19 * 60, 9 * 60),
    )
    decision = decide(
        snapshot=snapshot,
        program=PROGRAM,
        history=None,
        model=MODEL,
        now=datetime(2026, 3, 2, 12, tzinfo=UTC),
        rng=np.random.default_rng(0),
    )
    reasons = {(r.value, r.reason) for r in decision.removals}
    assert ("email", RemovalReason.NO_CONTACT_POINT) in reasons
    assert ("voice", RemovalReason.NO_CONSENT) in reasons
    assert ("portal", RemovalReason.NO_CONSENT) in reasons
    assert ("08-11", RemovalReason.CLIPPED_BY_QUIET_HOURS) in reasons
    assert ("17-20", RemovalReason.CLIPPED_BY_QUIET_HOURS) in reasons
    assert decision.action is not None
    assert decision.action.channel == "sms"


def test_deceased_patients_are_never_contacted_and_the_sentence_says_why():
    decision = decide(
        snapshot=make_snapshot(deceased=True),
        program=PROGRAM,
        history=None,
        model=MODEL,
        now=datetime(2026, 3, 2, 12, tzinfo=UTC),
        rng=np.random.default_rng(0),
    )
    assert decision.action is None
    assert "deceased" in decision.explanation


def test_contact_budget_counts_contacts_from_all_programs():
    now = datetime(2026, 3, 2, 12, tzinfo=UTC)
    recent = tuple(now - timedelta(days=d) for d in (1, 2, 3))
    decision = decide(
        snapshot=make_snapshot(recent=recent),
        program=PROGRAM,
        history=None,
        model=MODEL,
        now=now,
        rng=np.random.default_rng(0),
    )
    assert decision.action is None
    assert [r.reason for r in decision.removals] == [RemovalReason.CONTACT_BUDGET]


@settings(max_examples=25, deadline=None)
@given(
    zones=st.lists(st.sampled_from(ZONES), min_size=1, max_size=40),
    now=moments,
    seed=st.integers(0, 2**16),
)
def test_batch_decisions_respect_quiet_hours_and_consent(zones, now, seed):
    rng = np.random.default_rng(seed)
    snapshots = [
        make_snapshot(
            patient_id=f"p{i}",
            timezone=zone,
            consented=frozenset(rng.choice(sorted(ALL_CHANNELS), size=2, replace=False)),
            quiet=QuietHours(int(rng.integers(18, 23)) * 60, int(rng.integers(6, 10)) * 60),
        )
        for i, zone in enumerate(zones)
    ]
    population = PopulationBatch.from_snapshots(snapshots, program=PROGRAM, model=MODEL, now=now)
    batch = decide_batch(
        population=population,
        program=PROGRAM,
        history=MODEL.empty_history(len(zones)),
        model=MODEL,
        now=now,
        rng=rng,
    )
    for i, snapshot in enumerate(snapshots):
        action = batch.action(i)
        assert action is not None
        assert action.channel in snapshot.consented_channels["care-gap"]
        send_at = batch.send_at[i]
        assert send_at is not None
        local = send_at.astimezone(ZoneInfo(snapshot.timezone))
        assert not snapshot.quiet_hours.contains(local.hour * 60 + local.minute)
        assert 0 < batch.propensity[i] <= 1
