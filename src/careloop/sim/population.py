"""The default synthetic population: hidden preferences on every factor, fatigue and drift.

What makes it a fair yardstick rather than an easy one:

* every patient has a true preference on each factor (channel, send window, reading level,
  tone); about half of its spread is predictable from covariates (older patients answer
  calls, people who work days answer in the evening, graduates like advanced wording...)
  and the rest is individual and invisible;
* stated preferences exist for some patients and are right only most of the time;
* intrusive channels tire people: the more touches so far, the less a call or a text works,
  at a rate that differs by patient (fatigue from over-messaging);
* individual preferences drift linearly over months, so what was learned in month one is
  partly wrong by month five;
* working people's send-window preferences matter on weekdays only.

The population answers the plug-in contract (``patients`` and ``response_probability``) and,
for speed, :meth:`DefaultPopulation.probability_table` for all actions at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
from scipy.special import expit

from careloop.personalize.actions import (
    CHANNELS,
    READING_LEVELS,
    SEND_WINDOWS,
    TONES,
    Action,
)
from careloop.personalize.arrays import FloatArray

EPOCH = datetime(2026, 1, 5, tzinfo=UTC)
HOME_ZONE = ZoneInfo("America/New_York")
_LANGUAGES = ("en-US", "es-US", "vi-VN", "zh-CN")
_EDUCATION = (None, "secondary", "college", "postgraduate")
_INTRUSIVE = np.array([0.7, 0.3, 1.0, 0.2])  # sms, email, voice, portal
_SIGMA = (0.8, 0.6, 0.5, 0.4)  # individual spread per factor (logit scale)
_DRIFT = (0.5, 0.4, 0.2, 0.2)  # individual drift per six months (sd, logit scale)


@dataclass(frozen=True)
class SimPatient:
    """One synthetic patient, in the plug-in contract's shape."""

    id: str
    covariates: dict[str, Any]
    stated: dict[str, Any] = field(default_factory=dict)


class DefaultPopulation:
    """``make(n, seed)`` returns one of these."""

    def __init__(self, n: int, seed: int) -> None:
        rng = np.random.default_rng([seed, 0xCA7E])
        self.n = n
        age = np.clip(np.round(rng.normal(58, 17, n)), 18, 95).astype(int)
        old = (age - 18) / 77
        female = rng.random(n) < 0.55
        language = rng.choice(len(_LANGUAGES), n, p=[0.72, 0.18, 0.05, 0.05])
        has_mobile = rng.random(n) < 0.97 - 0.35 * old
        has_email = rng.random(n) < 0.92 - 0.45 * old
        has_portal = rng.random(n) < 0.55 - 0.35 * old
        works = (age < 66) & (rng.random(n) < 0.68)
        caregiver = rng.random(n) < np.where(age >= 75, 0.55, 0.06)
        education = rng.choice(4, n, p=[0.1, 0.45, 0.33, 0.12])
        self._age, self._works, self._caregiver = age, works, caregiver
        self._education, self._language = education, language

        self.structured = self._structured_effects(
            age, language, education, works, caregiver, has_portal
        )
        self.individual = [rng.normal(0, s, (n, k)) for s, k in zip(_SIGMA, _sizes(), strict=True)]
        self.drift = [rng.normal(0, d, (n, k)) for d, k in zip(_DRIFT, _sizes(), strict=True)]
        self.base = rng.normal(-1.3, 0.5, n) - 0.3 * (language >= 2)
        self.fatigue = rng.gamma(2.0, 0.18, n)

        patients: list[SimPatient] = []
        best_channel = np.argmax(self.structured[0] + self.individual[0], axis=1)
        best_window = np.argmax(self.structured[1] + self.individual[1], axis=1)
        for i in range(n):
            stated: dict[str, Any] = {}
            if rng.random() < 0.5:
                accurate = rng.random() < 0.7
                c = best_channel[i] if accurate else rng.integers(len(CHANNELS))
                stated["preferred_channel"] = CHANNELS[int(c)]
            if rng.random() < 0.3:
                accurate = rng.random() < 0.7
                w = best_window[i] if accurate else rng.integers(len(SEND_WINDOWS))
                stated["preferred_window"] = SEND_WINDOWS[int(w)]
            patients.append(
                SimPatient(
                    id=f"sim-{i:06d}",
                    covariates={
                        "age": int(age[i]),
                        "sex": "female" if female[i] else "male",
                        "language": _LANGUAGES[int(language[i])],
                        "has_mobile": bool(has_mobile[i]),
                        "has_email": bool(has_email[i]),
                        "has_portal": bool(has_portal[i]),
                        "works_daytime": bool(works[i]),
                        "caregiver": bool(caregiver[i]),
                        "education": _EDUCATION[int(education[i])],
                    },
                    stated=stated,
                )
            )
        self.patients = patients
        self._index = {p.id: i for i, p in enumerate(patients)}

    @staticmethod
    def _structured_effects(
        age: npt.NDArray[np.int_],
        language: npt.NDArray[np.int_],
        education: npt.NDArray[np.int_],
        works: npt.NDArray[np.bool_],
        caregiver: npt.NDArray[np.bool_],
        has_portal: npt.NDArray[np.bool_],
    ) -> list[FloatArray]:
        n = age.shape[0]
        young, senior = age < 45, age >= 70
        graduate, low_ed = education >= 2, education <= 1
        spanish, other_lang = language == 1, language >= 2
        channel = np.zeros((n, 4))
        channel[:, 0] = 0.9 * young + 0.4 * spanish - 0.5 * senior
        channel[:, 1] = 0.7 * graduate - 0.4 * other_lang
        channel[:, 2] = 1.1 * senior + 0.3 * other_lang - 0.6 * young
        channel[:, 3] = 0.8 * (has_portal & ~senior) - 0.5
        window = np.zeros((n, 4))
        window[:, 0] = 0.5 * senior - 0.4 * works
        window[:, 1] = 0.3 * senior - 0.7 * works
        window[:, 2] = 0.6 * caregiver - 0.6 * works
        window[:, 3] = 1.0 * works - 0.2 * senior
        reading = np.zeros((n, 3))
        reading[:, 0] = 0.6 * low_ed + 0.4 * other_lang - 0.6 * (education == 3)
        reading[:, 2] = 0.9 * (education == 3) + 0.3 * graduate - 0.7 * low_ed
        tone = np.zeros((n, 2))
        tone[:, 0] = 0.4 * young - 0.3 * senior
        tone[:, 1] = 0.4 * senior + 0.3 * (education == 3) - 0.2 * young
        return [channel, window, reading, tone]

    def _logits(self, months: float, weekday: bool) -> list[FloatArray]:
        """Per factor, every patient's effect of every value at this time (N x K)."""
        out: list[FloatArray] = []
        for f in range(4):
            effect = self.structured[f] + self.individual[f] + self.drift[f] * (months / 6.0)
            if f == 1 and not weekday:
                # working hours do not bind at weekends: drop the "works" part of the window
                effect = effect - np.where(self._works[:, None], _WORK_WINDOW, 0.0)
            out.append(effect)
        return out

    def probability_table(self, *, touch: int, sent_at: datetime) -> FloatArray:
        """True response probabilities for every patient and action: N x 4 x 4 x 3 x 2."""
        months, weekday = _when(sent_at)
        channel, window, reading, tone = self._logits(months, weekday)
        channel = channel - self.fatigue[:, None] * _INTRUSIVE[None, :] * np.log1p(touch / 5)
        eta = (
            self.base[:, None, None, None, None]
            + channel[:, :, None, None, None]
            + window[:, None, :, None, None]
            + reading[:, None, None, :, None]
            + tone[:, None, None, None, :]
        )
        return np.asarray(expit(eta), dtype=np.float64)

    def response_probability(
        self, patient_id: str, action: Action, *, touch: int, sent_at: datetime
    ) -> float:
        """The plug-in contract: P(patient engages with ``action`` sent at ``sent_at``)."""
        i = self._index[patient_id]
        months, weekday = _when(sent_at)
        values = (
            CHANNELS.index(action.channel),
            SEND_WINDOWS.index(action.send_window),
            READING_LEVELS.index(action.reading_level),
            TONES.index(action.tone),
        )
        eta = float(self.base[i])
        for f, v in enumerate(values):
            effect = self.structured[f][i, v] + self.individual[f][i, v]
            effect += self.drift[f][i, v] * (months / 6.0)
            if f == 1 and not weekday and self._works[i]:
                effect -= _WORK_WINDOW[v]
            eta += effect
        eta -= self.fatigue[i] * _INTRUSIVE[values[0]] * np.log1p(touch / 5)
        return float(expit(eta))


def _when(sent_at: datetime) -> tuple[float, bool]:
    """Months since the epoch (the drift's clock) and whether it is a weekday at home: what
    the table of every patient and the single probability must read alike."""
    months = (sent_at - EPOCH).total_seconds() / (30.44 * 86400)
    return months, sent_at.astimezone(HOME_ZONE).weekday() < 5


_WORK_WINDOW = np.array([-0.4, -0.7, -0.6, 1.0])


def _sizes() -> tuple[int, int, int, int]:
    return len(CHANNELS), len(SEND_WINDOWS), len(READING_LEVELS), len(TONES)


def make(n: int, seed: int) -> DefaultPopulation:
    """The plug-in factory of the default population."""
    return DefaultPopulation(n, seed)
