"""The default population honours the plug-in contract and its fast table agrees with it."""

from __future__ import annotations

from datetime import timedelta

import numpy as np

from careloop.personalize.actions import ActionSpace
from careloop.sim.population import EPOCH, make

COVARIATE_KEYS = {
    "age",
    "sex",
    "language",
    "has_mobile",
    "has_email",
    "has_portal",
    "works_daytime",
    "caregiver",
    "education",
}


def test_patients_carry_the_contract_covariates():
    world = make(50, 3)
    assert len(world.patients) == 50
    for patient in world.patients:
        assert set(patient.covariates) == COVARIATE_KEYS
        assert set(patient.stated) <= {"preferred_channel", "preferred_window"}


def test_fast_table_matches_the_scalar_contract():
    world = make(20, 3)
    sent_at = EPOCH + timedelta(days=40, hours=17)
    table = world.probability_table(touch=12, sent_at=sent_at).reshape(20, -1)
    actions = ActionSpace().all_actions()
    for i in (0, 7, 19):
        for a in (0, 33, 95):
            scalar = world.response_probability(
                world.patients[i].id, actions[a], touch=12, sent_at=sent_at
            )
            assert np.isclose(table[i, a], scalar)


def test_preferences_drift_and_intrusive_channels_tire():
    world = make(200, 3)
    early = world.probability_table(touch=0, sent_at=EPOCH + timedelta(hours=17))
    late = world.probability_table(touch=40, sent_at=EPOCH + timedelta(days=150, hours=17))
    best_early = early.reshape(200, -1).argmax(axis=1)
    best_late = late.reshape(200, -1).argmax(axis=1)
    assert (best_early != best_late).mean() > 0.1
    voice = 2
    assert late[:, voice].mean() < early[:, voice].mean()
