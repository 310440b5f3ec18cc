"""The contact budget per patient, across every program and channel, per day and per week.

Checked twice, because a decision is not a send:

* **at decision** (:func:`hold_over_budget`): the engine already removes a patient whose
  recent contacts fill the weekly budget; here the chosen send time is checked exactly
  against every contact already sent *or scheduled* (a reminder queued for tomorrow counts
  tomorrow), per day and per week. A decision that would break it becomes a hold with the
  engine's own ``contact_budget`` removal. Programs are decided in priority order
  (``priority:`` in the program file, highest first), so when two compete for the last
  contact the more important one gets it.
* **at dispatch** (:func:`admit`): right before the gateway is called, under a per-patient
  row lock, the contacts that actually went (``contact_at``) are counted; a message that
  would break the budget is dead-lettered ``over-budget`` (deferring it could push it into
  quiet hours). Two workers, or two programs that decided in the same tick, can therefore
  never both spend the patient's last contact.
* **spacing**: ``min_gap`` (``budget.min_gap_hours``, 4 by default) between two contacts,
  whatever programs and channels made them. A program may set its own (``min_gap_hours:``
  in its file, stricter or looser): its messages carry it (``extra["min_gap_hours"]``) and
  each message is spaced by its own gap from the contacts before it, so the gap between two
  contacts is the later one's. A portal message is not an interruption (nothing rings or
  buzzes; the patient reads it when they sign in): it is neither spaced nor spaces others,
  but it counts for the budget as every other message does. At decision a step too close to
  a contact sent or scheduled is held like an over-budget one; at dispatch a message too
  close to one that went is handed back to the queue, due when the gap ends (the quiet-hours
  check at its next claim moves it past the patient's night if the gap ends inside it), never
  dropped.

What counts: every message to the patient except the confirmation of their own STOP/HELP
(``transactional``), the portal copy of a withheld text and the first question that follows
a check-in's invitation (``continues``: one step, one contact). A
message a person on the care team wrote (console conversation, a clinician's request, a
check-in's next question answering the patient's own reply) counts but is held back neither
by the budget nor by the spacing: the person chose to send it now, or the patient is
waiting for it. Safety answers and STOP/HELP confirmations are ``transactional``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import BigInteger, String, Table, all_, any_, bindparam, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from careloop.db import any_of
from careloop.models import ContactBudgetLock, OutboxMessage
from careloop.outreach.config import BudgetSettings
from careloop.outreach.states import OutboxState
from careloop.personalize.contact_budget import (
    ContactBudget,
    Removal,
    RemovalReason,
    budget_allows,
    spaced_from,
)

if TYPE_CHECKING:  # the engine (SciPy) is the decider's; a worker only admits sends
    from careloop.personalize.engine import Decision

WEEK = timedelta(days=7)
SPENT_STATES = (
    OutboxState.SENDING,
    OutboxState.SENT,
    OutboxState.DELIVERED,
    OutboxState.FAILED_TRANSIENT,
    OutboxState.IN_DOUBT,
)
"""States in which an admitted message may have reached the patient (a dead one did not)."""


PROGRAM_GAP = "min_gap_hours"
"""``extra`` key of a message whose program sets its own gap (hours)."""
UNSPACED_CHANNELS = frozenset({"portal"})
"""Channels that do not interrupt: their messages are neither spaced nor space others."""


def contact_budget(
    settings: BudgetSettings, *, min_gap_hours: float | None = None
) -> ContactBudget:
    """The budget of ``settings``, with a program's own gap when it sets one."""
    hours = settings.min_gap_hours if min_gap_hours is None else min_gap_hours
    return ContactBudget(
        per_day=settings.per_day, per_week=settings.per_week, min_gap=timedelta(hours=hours)
    )


def message_gap(extra: Mapping[str, Any] | None, *, default: timedelta) -> timedelta:
    """The gap a message needs before it: its program's (``extra``), else ``default``."""
    hours = (extra or {}).get(PROGRAM_GAP)
    return default if hours is None else timedelta(hours=float(hours))


def spaces(channel: str) -> bool:
    """Whether a message on ``channel`` is spaced from other contacts and spaces them."""
    return channel not in UNSPACED_CHANNELS


def counts_as_contact(*, recipient_kind: str, extra: Mapping[str, Any] | None) -> bool:
    """Whether a message to ``recipient_kind`` with these ``extra`` keys spends budget."""
    extra = extra or {}
    return (
        recipient_kind == "patient"
        and not extra.get("transactional")
        and "withheld_from" not in extra
        and "continues" not in extra
    )


def limited_by_budget(*, recipient_kind: str, extra: Mapping[str, Any] | None) -> bool:
    """Counted and also held back by the budget (not a message a person chose to send)."""
    extra = extra or {}
    person_sent = bool(extra.get("staff_message") or extra.get("requested"))
    return counts_as_contact(recipient_kind=recipient_kind, extra=extra) and not person_sent


@dataclass(frozen=True, slots=True)
class ContactTimes:
    """One patient's contacts: ``counted`` for the budget, ``spacing`` those that interrupt
    (the gap is kept from them: every channel but the portal)."""

    counted: list[datetime] = field(default_factory=list)
    spacing: list[datetime] = field(default_factory=list)

    def add(self, moment: datetime, *, channel: str) -> None:
        self.counted.append(moment)
        if spaces(channel):
            self.spacing.append(moment)


def contact_times(
    session: Session, *, patient_ids: Sequence[str], now: datetime
) -> dict[str, ContactTimes]:
    """Each patient's contacts from a week before ``now`` on: sent ones at their send time,
    pending ones at their due time (the engine must see tomorrow's reminder today)."""
    since = now - WEEK
    rows = session.execute(
        select(
            OutboxMessage.patient_id,
            OutboxMessage.recipient_kind,
            OutboxMessage.extra,
            OutboxMessage.channel,
            OutboxMessage.sent_at,
            OutboxMessage.contact_at,
            OutboxMessage.due_at,
        ).where(
            any_of(session, OutboxMessage.patient_id, patient_ids),
            OutboxMessage.state != str(OutboxState.DEAD),
            OutboxMessage.due_at >= since - WEEK,
        )
    ).all()
    out = {pid: ContactTimes() for pid in patient_ids}
    for pid, kind, extra, channel, sent_at, contact_at, due_at in rows:
        if not counts_as_contact(recipient_kind=kind, extra=extra):
            continue
        moment = contact_at or sent_at or due_at
        if moment >= since:
            out[pid].add(moment, channel=channel)
    return out


def scheduled_contacts(
    session: Session, *, patient_ids: Sequence[str], now: datetime
) -> dict[str, list[datetime]]:
    """Each patient's contacts for the budget (:func:`contact_times`'s ``counted``)."""
    times = contact_times(session, patient_ids=patient_ids, now=now)
    return {pid: t.counted for pid, t in times.items()}


def hold_over_budget(
    decision: Decision,
    *,
    contacts: Sequence[datetime],
    budget: ContactBudget,
    spaced: bool = True,
    spacing: Sequence[datetime] | None = None,
) -> Decision:
    """The decision, or a hold when sending at its time would break the budget, or (with
    ``spaced``; a care-team member's own message is not, nor one to the portal) come closer
    than the budget's ``min_gap`` to another contact sent or scheduled (``spacing``, when
    given: those that interrupt; else ``contacts``)."""
    if decision.action is None or decision.send_at is None:
        return decision
    around = contacts if spacing is None else spacing
    spaced = spaced and spaces(decision.action.channel)
    if not budget_allows(contacts, at=decision.send_at, budget=budget):
        detail = f"{budget.per_day} a day, {budget.per_week} a week"
        why = "No outreach now: the patient's contact budget across programs is spent."
    elif spaced and spaced_from(around, at=decision.send_at, gap=budget.min_gap) is not None:
        detail = f"at least {_hours(budget.min_gap)} hours between contacts"
        why = (
            "No outreach now: the patient has another contact within "
            f"{_hours(budget.min_gap)} hours of this one."
        )
    else:
        return decision
    removal = Removal("patient", None, RemovalReason.CONTACT_BUDGET, detail)
    return replace(
        decision,
        action=None,
        send_at=None,
        propensity=None,
        removals=(*decision.removals, removal),
        explanation=why,
    )


def _hours(gap: timedelta) -> str:
    return f"{gap.total_seconds() / 3600:g}"


def budget_patients(messages: Iterable[tuple[str, str, Mapping[str, Any] | None]]) -> list[str]:
    """The patients whose budget locks :func:`admit` takes for ``(patient_id,
    recipient_kind, extra)`` messages, in id order."""
    return sorted(
        {
            pid
            for pid, kind, extra in messages
            if counts_as_contact(recipient_kind=kind, extra=extra)
        }
    )


def _lock_patients(session: Session, patient_ids: Sequence[str], now: datetime) -> None:
    """Take each patient's budget row lock, in id order so workers never deadlock: one
    upsert whose update locks the row (created on a patient's first contact)."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    table = cast(Table, ContactBudgetLock.__table__)
    stmt = insert(table)
    # One cached statement, executemany in id order (sent as batched ``VALUES`` by the
    # driver, rows upserted in that order): a ``VALUES`` list built per call compiled afresh
    # each time.
    session.connection().execute(
        stmt.on_conflict_do_update(
            index_elements=["patient_id"],
            set_={"checked_at": stmt.excluded.checked_at},
        ),
        [{"patient_id": pid, "checked_at": now} for pid in sorted(set(patient_ids))],
    )


@dataclass(frozen=True, slots=True)
class Admission:
    """What :func:`admit` let through: ``refused`` would break the budget (dead-lettered
    ``over-budget``); ``deferred`` come too close to another contact, each with the moment
    its gap ends (handed back to the queue, due then)."""

    refused: set[int] = field(default_factory=set)
    deferred: dict[int, datetime] = field(default_factory=dict)

    @property
    def held(self) -> set[int]:
        return self.refused | self.deferred.keys()


def admit(
    session: Session,
    *,
    messages: Sequence[tuple[int, str, str, Mapping[str, Any] | None]],
    now: datetime,
    budget: ContactBudget,
    locked: bool = False,
    marked: bool = False,
    channels: Mapping[int, str] | None = None,
) -> Admission:
    """Admit ``(id, patient_id, recipient_kind, extra)`` messages about to be sent, in order:
    those that would break the budget are refused, those closer than ``budget.min_gap`` to a
    contact already made (this group's included) deferred to the end of that gap. Admitted
    messages get ``contact_at = now`` in this transaction, under the patients' locks
    (``locked``: an earlier statement of this transaction took them, in id order;
    ``marked``: the same statement also set ``contact_at = now`` on these messages, as
    :func:`careloop.outreach.results_sql.write_at_once` does on PostgreSQL). ``channels``
    (message id → channel) tells which of them do not interrupt (the portal): those are
    neither spaced nor space the others; a message spaced waits its own gap
    (:func:`message_gap`)."""
    counted = [m for m in messages if counts_as_contact(recipient_kind=m[2], extra=m[3])]
    if not counted:
        return Admission()
    patient_ids = sorted({m[1] for m in counted})
    if not locked:
        _lock_patients(session, patient_ids, now)
    ids = [m[0] for m in counted]
    spent: dict[str, list[datetime]] = defaultdict(list)
    spacing: dict[str, list[datetime]] = defaultdict(list)
    count = _count_marked if marked else _count_and_mark
    for pid, moment, channel in count(session, patient_ids=patient_ids, ids=ids, now=now):
        if moment is not None:  # never: the count's own condition
            spent[pid].append(moment)
            if spaces(channel):
                spacing[pid].append(moment)
    out = Admission()
    for message_id, pid, kind, extra in counted:
        interrupts = spaces((channels or {}).get(message_id, ""))
        if limited_by_budget(recipient_kind=kind, extra=extra):
            if not budget_allows(spent[pid], at=now, budget=budget):
                out.refused.add(message_id)
                continue
            # Not spaced, though budgeted and counted: a reminder before a visit (``timely``:
            # held, it would miss the visit), ``careloop send``'s ``staff`` rows (the
            # person chose to send it now) and a portal message (it does not interrupt).
            unspaced = bool((extra or {}).get("timely") or (extra or {}).get("staff"))
            gap = message_gap(extra, default=budget.min_gap)
            end = None if unspaced or not interrupts else spaced_from(spacing[pid], at=now, gap=gap)
            if end is not None:
                out.deferred[message_id] = end
                continue
        spent[pid].append(now)
        if interrupts:
            spacing[pid].append(now)
    if out.held:  # rare: they were marked with the rest; a held message spent nothing
        _set_contact_at(session, sorted(out.held), None)
    return out


def _count_and_mark(
    session: Session, *, patient_ids: Sequence[str], ids: Sequence[int], now: datetime
) -> Sequence[tuple[str, datetime | None, str]]:
    """The patients' contacts spent in the last week, other than ``ids``, counted after
    their locks; ``ids`` get ``contact_at = now``. On PostgreSQL one statement (the update
    in a data-modifying CTE: the count excludes those rows, so it reads nothing the update
    writes): one round trip of each group commit fewer."""
    counted = select(
        OutboxMessage.patient_id, OutboxMessage.contact_at, OutboxMessage.channel
    ).where(
        OutboxMessage.patient_id.in_(list(patient_ids)),
        OutboxMessage.contact_at >= now - WEEK,
        OutboxMessage.state.in_([str(s) for s in SPENT_STATES]),
        OutboxMessage.id.notin_(list(ids)),
    )
    if session.get_bind().dialect.name != "postgresql":
        rows = session.execute(counted).tuples().all()
        _set_contact_at(session, ids, now)
        return rows
    mark = (
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(list(ids)))
        .values(contact_at=now)
        .returning(OutboxMessage.id)
        .cte("marked")
    )
    return session.execute(counted.add_cte(mark)).tuples().all()


_COUNT_MARKED = select(
    OutboxMessage.patient_id, OutboxMessage.contact_at, OutboxMessage.channel
).where(
    OutboxMessage.patient_id == any_(bindparam("patients", type_=ARRAY(String))),
    OutboxMessage.contact_at >= bindparam("since", type_=OutboxMessage.contact_at.type),
    OutboxMessage.state == any_(bindparam("spent", type_=ARRAY(String))),
    OutboxMessage.id != all_(bindparam("ids", type_=ARRAY(BigInteger))),
)
"""The count after a statement that took the locks and marked (PostgreSQL): one array per
list, so it compiles once and the server plans it once (an ``IN`` list per value is a new
statement for every group size)."""


def _count_marked(
    session: Session, *, patient_ids: Sequence[str], ids: Sequence[int], now: datetime
) -> Sequence[tuple[str, datetime | None, str]]:
    """The patients' contacts spent in the last week, other than ``ids`` (already marked)."""
    return (
        session.execute(
            _COUNT_MARKED,
            {
                "patients": list(patient_ids),
                "since": now - WEEK,
                "spent": [str(s) for s in SPENT_STATES],
                "ids": list(ids),
            },
        )
        .tuples()
        .all()
    )


def _set_contact_at(session: Session, ids: Sequence[int], at: datetime | None) -> None:
    session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(list(ids)))
        .values(contact_at=at)
        .execution_options(synchronize_session=False)
    )
