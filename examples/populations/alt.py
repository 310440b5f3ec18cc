"""A second plug-in population with a different structure from the default one.

Where the default population is additive on the logit scale (what the engine assumes),
this one is built from archetypes with *joint* channel-and-window tastes (a "caller" answers
voice at midday but not in the evening; a "texter" answers evening SMS but not morning SMS),
so the engine's factored model is misspecified here. Fatigue is multiplicative and shared;
preferences do not drift. Only the plug-in contract is implemented (no fast table), so this
also exercises the simulator's scalar path.

Use: ``careloop simulate --population examples.populations.alt:make ...`` (run from the
repository root) or put ``examples/populations`` on ``PYTHONPATH`` and use ``alt:make``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

CHANNELS = ("sms", "email", "voice", "portal")
WINDOWS = ("08-11", "11-14", "14-17", "17-20")
LEVELS = ("basic", "standard", "advanced")
TONES = ("friendly", "formal")

# archetype -> channel x window logit table
_ARCHETYPES = {
    "texter": [[-0.8, -0.2, 0.2, 1.2], [-0.5, -0.5, -0.5, -0.3], [-1.5] * 4, [-0.8] * 4],
    "emailer": [[-0.6] * 4, [1.0, 0.5, 0.2, 0.0], [-1.2] * 4, [0.2, 0.2, 0.2, 0.3]],
    "caller": [[-0.9] * 4, [-1.0] * 4, [0.4, 1.2, 0.6, -0.6], [-1.5] * 4],
    "portal": [[-0.3] * 4, [0.0, 0.0, 0.0, 0.3], [-1.0] * 4, [1.0, 0.8, 0.8, 0.9]],
    "evening": [
        [0.0, -0.6, -0.6, 0.9],
        [-0.4, -0.6, -0.2, 0.8],
        [-0.5, -1.0, -0.4, 0.5],
        [-0.5] * 4,
    ],
}
_NAMES = tuple(_ARCHETYPES)


@dataclass(frozen=True)
class Patient:
    id: str
    covariates: dict[str, Any]
    stated: dict[str, Any] = field(default_factory=dict)


class AltPopulation:
    def __init__(self, n: int, seed: int) -> None:
        rng = np.random.default_rng([seed, 7])
        self.patients: list[Patient] = []
        self._joint = np.empty((n, 4, 4))
        self._reading = np.empty((n, 3))
        self._tone = np.empty((n, 2))
        self._base = rng.normal(-0.9, 0.4, n)
        self._index: dict[str, int] = {}
        for i in range(n):
            age = int(np.clip(rng.normal(50, 18), 18, 95))
            works = age < 65 and rng.random() < 0.6
            education = rng.choice(
                ["secondary", "college", "postgraduate", None], p=[0.5, 0.3, 0.1, 0.1]
            )
            language = "es-MX" if rng.random() < 0.25 else "en-US"
            logits = np.array(
                [
                    1.0 if age < 40 else 0.0,  # texter
                    0.8 if education in ("college", "postgraduate") else 0.0,
                    1.5 if age >= 70 else -0.5,  # caller
                    0.3,  # portal
                    1.2 if works else 0.0,  # evening
                ]
            )
            probs = np.exp(logits) / np.exp(logits).sum()
            kind = _NAMES[int(rng.choice(5, p=probs))]
            self._joint[i] = np.asarray(_ARCHETYPES[kind]) + rng.normal(0, 0.5, (4, 4))
            level = {"postgraduate": 2, "college": 1}.get(str(education), 0)
            self._reading[i] = -0.5 * np.abs(np.arange(3) - level) + rng.normal(0, 0.3, 3)
            self._tone[i] = rng.normal(0, 0.3, 2) + (np.array([0.0, 0.3]) if age > 60 else 0.0)
            stated: dict[str, Any] = {}
            if rng.random() < 0.4:
                best = int(np.argmax(self._joint[i].max(axis=1)))
                stated["preferred_channel"] = CHANNELS[
                    best if rng.random() < 0.6 else int(rng.integers(4))
                ]
            pid = f"alt-{i:05d}"
            self._index[pid] = i
            self.patients.append(
                Patient(
                    id=pid,
                    covariates={
                        "age": age,
                        "sex": "female" if rng.random() < 0.5 else "male",
                        "language": language,
                        "has_mobile": bool(age < 80 or rng.random() < 0.5),
                        "has_email": bool(rng.random() < (0.9 if age < 60 else 0.6)),
                        "has_portal": bool(rng.random() < 0.4),
                        "works_daytime": bool(works),
                        "caregiver": bool(age > 78 and rng.random() < 0.5),
                        "education": education,
                    },
                    stated=stated,
                )
            )

    def response_probability(
        self, patient_id: str, action: Any, *, touch: int, sent_at: datetime
    ) -> float:
        i = self._index[patient_id]
        eta = (
            self._base[i]
            + self._joint[i, CHANNELS.index(action.channel), WINDOWS.index(action.send_window)]
            + self._reading[i, LEVELS.index(action.reading_level)]
            + self._tone[i, TONES.index(action.tone)]
        )
        return (1.0 / (1.0 + math.exp(-eta))) * (1.0 - 0.25 * min(touch, 60) / 60)


def make(n: int, seed: int) -> AltPopulation:
    return AltPopulation(n, seed)
