"""The program figures aggregated by the database equal the row-by-row reading of the event
log they replace, and the programs page's report equals what the page computed before (the
period's report and one whole report per week: nine reports a request), on a seeded random log
(SQLite and PostgreSQL)."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import date, datetime, timedelta

from careloop.clock import FrozenClock
from careloop.events import NewEvent, list_events, record_events
from careloop.insights.program_figures import (
    ENGAGEMENT_WINDOW,
    REPLY_KINDS,
    ProgramFigures,
    program_figures,
)
from careloop.insights.report import build_report, programs_page_report
from careloop.models import Event, Patient
from careloop.runtime import Runtime
from careloop.web.console.programs import learning_curves

START = datetime.fromisoformat("2026-03-02T00:00:00+00:00")
WEEKS = 8
PROGRAMS = ("breast", "colorectal", "bp")
LOOP = ("checkin_submitted", "reading_received", "alert_raised", "alert_acknowledged")


def row_by_row(events: Sequence[Event]) -> dict[str, ProgramFigures]:
    """The report's figures as computed before they were aggregated by the database."""
    programs: dict[str, ProgramFigures] = {}
    last_sent: dict[tuple[str, str], Event] = {}
    for event in events:
        if event.program is None or event.patient_id is None:
            continue
        fig = programs.setdefault(event.program, ProgramFigures(program=event.program))
        patient = event.patient_id
        payload = event.payload or {}
        if event.kind == "eligible":
            fig.eligible.add(patient)
        elif event.kind == "enrolled":
            fig.arms[patient] = str(payload.get("arm", "treatment"))
        elif event.kind == "sent":
            fig.contacted.add(patient)
            channel = str(payload.get("channel", "unknown"))
            fig.sent_by_channel[channel] += 1
            fig.sent_by_window[str(payload.get("send_window", "unknown"))] += 1
            last_sent[(event.program, patient)] = event
        elif event.kind in REPLY_KINDS:
            sent = last_sent.pop((event.program, patient), None)
            if sent is not None and event.occurred_at - sent.occurred_at <= ENGAGEMENT_WINDOW:
                fig.engaged.add(patient)
                channel = str((sent.payload or {}).get("channel", "unknown"))
                fig.engaged_by_channel[channel] += 1
                window = str((sent.payload or {}).get("send_window", "unknown"))
                fig.engaged_by_window[window] += 1
                minutes = (event.occurred_at - sent.occurred_at).total_seconds() / 60
                fig.response_minutes[channel].append(minutes)
        elif event.kind == "completed":
            fig.completed.add(patient)
        elif event.kind == "opted_out":
            fig.opted_out.add(patient)
    return programs


def _comparable(fig: ProgramFigures) -> dict[str, object]:
    minutes = {c: sorted(m) for c, m in fig.response_minutes.items()}
    return {**vars(fig), "first_seen": None, "response_minutes": minutes}


def _seed(rt: Runtime, clock: FrozenClock) -> None:
    """120 patients in three programs, events spread over nine weeks (some outside the
    period, replies crossing week boundaries), feedback-loop alerts and slot offers."""
    rng = random.Random(18)
    events: list[NewEvent] = []

    def at() -> datetime:
        return START + timedelta(hours=rng.randrange(-24, (WEEKS + 1) * 7 * 24))

    with rt.transaction() as session:
        for i in range(120):
            pid = f"p{i:03d}"
            session.add(
                Patient(
                    id=pid,
                    language=rng.choice(["en", "es", "zh-CN"]),
                    gender=rng.choice(["female", "male"]),
                    birth_date=date(1940 + rng.randrange(60), 1 + i % 12, 1),
                    timezone="UTC",
                    timezone_source="default",
                    deceased=False,
                    contact_points=[],
                    created_at=START,
                    updated_at=START,
                )
            )
            for program in rng.sample(PROGRAMS, rng.randrange(1, 3)):
                base = {"actor": "test", "patient_id": pid, "program": program}
                arm = "holdout" if rng.random() < 0.3 else "treatment"
                events.append(NewEvent(kind="eligible", occurred_at=at(), **base))
                events.append(
                    NewEvent(kind="enrolled", occurred_at=at(), payload={"arm": arm}, **base)
                )
                for _ in range(rng.randrange(4)):
                    sent = at()
                    channel = rng.choice(["sms", "email", "voice"])
                    window = rng.choice(["08-12", "12-17", "17-20"])
                    events.append(
                        NewEvent(
                            kind="sent",
                            occurred_at=sent,
                            payload={"channel": channel, "send_window": window},
                            **base,
                        )
                    )
                    if rng.random() < 0.6:
                        delay = timedelta(hours=rng.randrange(1, 120))
                        events.append(
                            NewEvent(kind=rng.choice(REPLY_KINDS), occurred_at=sent + delay, **base)
                        )
                if rng.random() < 0.4:
                    events.append(NewEvent(kind="completed", occurred_at=at(), **base))
                if rng.random() < 0.05:
                    events.append(NewEvent(kind="opted_out", occurred_at=at(), **base))
            if rng.random() < 0.3:
                offer = f"offer-{i}"
                events.append(
                    NewEvent(
                        kind="slots_offered",
                        actor="test",
                        patient_id=pid,
                        subject_id=offer,
                        occurred_at=at(),
                    )
                )
                if rng.random() < 0.5:
                    events.append(
                        NewEvent(
                            kind="slot_booked",
                            actor="test",
                            patient_id=pid,
                            payload={"offer": offer},
                            occurred_at=at(),
                        )
                    )
            for kind in LOOP[: rng.randrange(len(LOOP) + 1)]:
                events.append(
                    NewEvent(
                        kind=kind,
                        actor="test",
                        patient_id=pid,
                        subject_id=f"alert-{i}",
                        payload={"sla_minutes": 60},
                        occurred_at=at(),
                    )
                )
        events.sort(key=lambda e: e.occurred_at or START)
        record_events(session, events=events, clock=clock)


def test_one_read_gives_the_report_and_the_weekly_figures_the_nine_reports_gave(
    rt: Runtime, clock: FrozenClock
) -> None:
    _seed(rt, clock)
    end = START + timedelta(weeks=WEEKS)
    with rt.transaction() as session:
        report, weekly = programs_page_report(session, start=START, end=end, weeks=WEEKS)
        before = build_report(session, start=START, end=end)
        weeks_before = [
            build_report(
                session, start=START + timedelta(weeks=i), end=START + timedelta(weeks=i + 1)
            )
            for i in range(WEEKS)
        ]
    assert report == before
    assert [week for week, _ in weekly] == [START + timedelta(weeks=i) for i in range(WEEKS)]
    with_messages = [[p for p in w["programs"] if p["channels"]] for w in weeks_before]
    assert [w["programs"] for _, w in weekly] == [
        [{k: p[k] for k in ("program", "channels", "send_windows")} for p in programs]
        for programs in with_messages
    ]
    before_pairs = list(zip([week for week, _ in weekly], weeks_before, strict=True))
    for program in PROGRAMS:
        assert learning_curves(weekly, program) == learning_curves(before_pairs, program)
    assert sum(r["sent"] for _, w in weekly for p in w["programs"] for r in p["channels"]) > 100


def test_the_whole_report_reads_loop_and_access_events_as_a_program_report_does(
    rt: Runtime, clock: FrozenClock
) -> None:
    """Without a program the loop and access events are taken from the one read of the log;
    a program's report still reads them apart: both give the same figures."""
    _seed(rt, clock)
    end = START + timedelta(weeks=WEEKS)
    with rt.transaction() as session:
        whole = build_report(session, start=START, end=end)
        apart = {p: build_report(session, start=START, end=end, program=p) for p in PROGRAMS}
    assert whole["feedback_loop"]["alerts_raised"] > 0
    for program in PROGRAMS:
        assert apart[program]["feedback_loop"] == whole["feedback_loop"]
        (mine,) = apart[program]["programs"]
        theirs = next(p for p in whole["programs"] if p["program"] == program)
        assert mine.get("access") == theirs.get("access")
    assert any("access" in p for p in whole["programs"])


def test_the_database_aggregates_equal_the_row_by_row_figures(
    rt: Runtime, clock: FrozenClock
) -> None:
    _seed(rt, clock)
    end = START + timedelta(weeks=WEEKS)
    periods = [(START, end)] + [
        (START + timedelta(weeks=i), START + timedelta(weeks=i + 1)) for i in range(WEEKS)
    ]
    with rt.transaction() as session:
        for since, until in periods:
            for program in (None, "breast"):
                events = list_events(session, since=since, until=until, program=program)
                expected = row_by_row(events)
                got = program_figures(session, start=since, end=until, program=program)
                assert sorted(got) == sorted(expected)
                for name, fig in expected.items():
                    assert _comparable(got[name]) == _comparable(fig)
        whole = program_figures(session, start=START, end=end)
    assert all(fig.engaged and fig.first_seen for fig in whole.values())
