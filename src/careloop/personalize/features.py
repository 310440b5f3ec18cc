"""Covariates → a numeric feature row, the same for the engine, the simulator and the service.

Features are what lets a new patient start from people like them: the pooled model learns,
for every factor value, a weight per feature. Stated preferences enter as features too, so
the model learns how much a patient's word predicts their replies instead of obeying it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from careloop.personalize.actions import ActionSpace
from careloop.personalize.arrays import FloatArray
from careloop.personalize.profile import StatedPreferences

_EDUCATION = {
    "secondary": "secondary",
    "high_school": "secondary",
    "high-school": "secondary",
    "college": "college",
    "bachelor": "college",
    "university": "college",
    "postgraduate": "postgraduate",
    "graduate": "postgraduate",
    "master": "postgraduate",
    "doctorate": "postgraduate",
}
_BOOLEANS = ("has_mobile", "has_email", "has_portal", "works_daytime", "caregiver")


class Featurizer:
    """Maps (covariates, stated preferences) to a fixed-length row for one action space."""

    def __init__(self, space: ActionSpace) -> None:
        self.space = space
        names = ["bias", "age", "age_sq", "female", "lang_en", "lang_es", "lang_other"]
        names += list(_BOOLEANS)
        names += ["edu_secondary", "edu_college", "edu_postgraduate"]
        for factor, values in space.factors:
            names += [f"stated_{factor}={value}" for value in values]
        self.names: tuple[str, ...] = tuple(names)
        self._stated_offset = names.index(f"stated_channel={space.channels[0]}")

    @property
    def dim(self) -> int:
        return len(self.names)

    def row(self, covariates: Mapping[str, Any], stated: StatedPreferences) -> FloatArray:
        out = np.zeros(self.dim)
        self.fill(out, covariates, stated)
        return out

    def matrix(self, rows: Sequence[tuple[Mapping[str, Any], StatedPreferences]]) -> FloatArray:
        out = np.zeros((len(rows), self.dim))
        for i, (covariates, stated) in enumerate(rows):
            self.fill(out[i], covariates, stated)
        return out

    def fill(
        self, out: FloatArray, covariates: Mapping[str, Any], stated: StatedPreferences
    ) -> None:
        age = covariates.get("age")
        age_z = (float(age) - 55.0) / 20.0 if isinstance(age, int | float) else 0.0
        out[0] = 1.0
        out[1] = age_z
        out[2] = age_z * age_z
        out[3] = 1.0 if str(covariates.get("sex", "")).lower() in {"female", "f"} else 0.0
        language = str(covariates.get("language") or "en").split("-")[0].lower()
        out[4 + (0 if language == "en" else 1 if language == "es" else 2)] = 1.0
        for j, key in enumerate(_BOOLEANS):
            out[7 + j] = 1.0 if covariates.get(key) else 0.0
        education = _EDUCATION.get(str(covariates.get("education") or "").lower())
        if education is not None:
            out[12 + ("secondary", "college", "postgraduate").index(education)] = 1.0
        offset = self._stated_offset
        stated_values: tuple[str | None, ...] = (
            stated.channel,
            stated.send_window,
            stated.reading_level,
            stated.tone,
        )
        if self.space.framings:
            stated_values = (*stated_values, stated.framing)
        for (_, values), value in zip(self.space.factors, stated_values, strict=True):
            if value in values:
                out[offset + values.index(value)] = 1.0
            offset += len(values)
