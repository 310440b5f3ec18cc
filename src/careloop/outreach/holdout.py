"""Randomized holdout assignment: seeded by program and patient, so every re-run agrees.

A hash is as good as a coin for assignment (uniform, independent of anything about the
patient) and needs no stored seed: re-enrolling after a crash, on another worker or in a
replay puts each patient in the same arm.
"""

from __future__ import annotations

import hashlib

from careloop.outreach.states import Arm


def holdout_draw(*, program: str, patient_id: str, salt: str = "") -> float:
    """A uniform number in [0, 1) fixed by (program, patient, salt)."""
    digest = hashlib.sha256(f"{salt}|{program}|{patient_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def assign_arm(*, program: str, patient_id: str, share: float, salt: str = "") -> Arm:
    draw = holdout_draw(program=program, patient_id=patient_id, salt=salt)
    return Arm.HOLDOUT if draw < share else Arm.OUTREACH
