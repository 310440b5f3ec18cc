"""The two lifecycles of outreach, written down: enrollments and outbox messages.

Enrollment (one patient in one program episode)::

      eligible ──enroll──► enrolled ──first send──► contacted ──reply──► responded
                              │  ▲                      │  ▲                │
                              │  └──(holdout: stays     │  └──next step─────┘
                              │      enrolled, no sends; │
                              │      followed for the    │
                              │      outcome)            │
             ┌────────────────┴────────────┬────────────┴──────────────┬──────────────┐
             ▼                             ▼                           ▼              ▼
         completed                      opted-out                    closed       (any active
   (call to action done:          (STOP / unsubscribe:         (journey ended,     state can
    mammogram recorded,            no further outreach)         anchor passed,     reach all
    appointment confirmed)                                      patient deceased)  three ends)

``completed``, ``opted-out`` and ``closed`` are final. Every transition is a named function in
:mod:`careloop.outreach.enrollment` that also appends an event (``enrolled``, ``sent``,
``replied``, ``completed``, ``opted_out``, ``closed``).

Outbox message::

    queued ──claim──► sending ──provider accepted──► sent ──receipt──► delivered
      ▲                 │  │                           │
      │  backoff+jitter │  │ lease expired (crash)     └──receipt failed──► failed-transient / dead
      └── failed-transient ◄┘ (re-claimed with the SAME idempotency key)
                        │  │
                        │  └──re-claimed, last attempt was "calling" and the gateway cannot
                        │     say whether it sent it──► in-doubt (waits for review)
                        └──permanent error / max attempts / consent withdrawn──► dead (reason)

Attempt (one row per claim): ``started`` (claimed, provider not yet called) → ``calling``
(committed right before the provider call, in the same transaction as the previous message's
result) → ``accepted`` / ``transient`` / ``permanent`` / ``skipped``. A crash leaves at most one
attempt per worker ``calling``: that message is *in doubt*; when re-claimed it is reconciled
against the gateway (``reconciled``: it had been sent; ``in-doubt``: the gateway had no record,
or could not say) before anything is sent again.
"""

from __future__ import annotations

from enum import StrEnum


class EnrollmentState(StrEnum):
    ELIGIBLE = "eligible"
    ENROLLED = "enrolled"
    CONTACTED = "contacted"
    RESPONDED = "responded"
    COMPLETED = "completed"
    CLOSED = "closed"
    OPTED_OUT = "opted-out"

    @property
    def is_final(self) -> bool:
        return self in FINAL_ENROLLMENT_STATES


FINAL_ENROLLMENT_STATES = frozenset(
    {EnrollmentState.COMPLETED, EnrollmentState.CLOSED, EnrollmentState.OPTED_OUT}
)
ACTIVE_ENROLLMENT_STATES = frozenset(
    {EnrollmentState.ENROLLED, EnrollmentState.CONTACTED, EnrollmentState.RESPONDED}
)


class Arm(StrEnum):
    """Randomized at enrollment: ``holdout`` patients get no outreach but are followed."""

    OUTREACH = "outreach"
    HOLDOUT = "holdout"


class CloseReason(StrEnum):
    JOURNEY_ENDED = "journey-ended"
    ANCHOR_PASSED = "anchor-passed"
    DECEASED = "deceased"
    NO_LONGER_ELIGIBLE = "no-longer-eligible"


class OutboxState(StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    FAILED_TRANSIENT = "failed-transient"
    DEAD = "dead"
    IN_DOUBT = "in-doubt"
    """Maybe sent by a worker that crashed; the gateway could not tell. Never re-sent
    automatically (a double text is worse than a late one): staff review it."""


CLAIMABLE_STATES = (OutboxState.QUEUED, OutboxState.FAILED_TRANSIENT)
PENDING_STATES = frozenset({OutboxState.QUEUED, OutboxState.SENDING, OutboxState.FAILED_TRANSIENT})


class DeadReason(StrEnum):
    """Why a message will never be sent (or retried), in words an operator can act on."""

    PERMANENT_FAILURE = "permanent-failure"
    MAX_ATTEMPTS = "max-attempts"
    CONSENT_WITHDRAWN = "consent-withdrawn"
    OPTED_OUT = "opted-out"
    ENROLLMENT_ENDED = "enrollment-ended"
    NO_ADAPTER = "no-adapter"
    """No adapter is configured for the message's channel."""
    MISCONFIGURED = "misconfigured"
    """A setting stops every send on the channel (an ``http`` public URL, which email's
    one-click unsubscribe cannot use; a sender the gateway refuses): the event names it."""
    DELIVERY_FAILED = "delivery-failed"
    OVER_BUDGET = "over-budget"
    """The patient's contact budget was spent by the time it was due (``outreach.budget``)."""
    OFFER_CLOSED = "offer-closed"
    """The visit times it offers were answered, replaced or expired before it went."""
    NOT_TEXTABLE = "not-textable"
    """The record no longer lists the number as one a text can reach (now an old, home or work
    line, or a looked-up landline) by the time the text was due."""
    NUMBER_GONE = "number-gone"
    """A call's number is no longer on the record, or the record now calls it old, by the time
    the call was due: it may be someone else's now."""
    NUMBER_OPTED_OUT = "number-opted-out"
    """The number replied STOP as a caregiver's (``governance.number_opt_outs``): no text or
    automated call goes to it, whichever patient it is about."""
    VISIT_CHANGED = "visit-changed"
    """The visit it is about (a confirmation, a reminder, a caregiver's copy) was cancelled or
    moved before it went."""
    NO_LONGER_ESCORTING = "no-longer-escorting"
    """A copy to the caregiver who was to come along to the visit (the booking's notice, the
    journey's reminder copy): their availability changed and the visit no longer relies on
    them (``access.escorts``), so "please bring Rosa on Tuesday" does not go."""


class AttemptOutcome(StrEnum):
    STARTED = "started"
    CALLING = "calling"
    ACCEPTED = "accepted"
    RECONCILED = "reconciled"
    IN_DOUBT = "in-doubt"
    TRANSIENT = "transient"
    PERMANENT = "permanent"
    SKIPPED = "skipped"
