"""What the medications API and CLI return."""

from __future__ import annotations

from pydantic import BaseModel


class Reminder(BaseModel):
    """The next reminder of one dose slot (the ``careloop medications reminders`` contract)."""

    medication: str
    slot: str
    next_reminder: str
    """ISO-8601 with the patient's UTC offset."""
    basis: str
    """Why this time, in a sentence ("learned from 12 confirmations, median 07:32")."""
