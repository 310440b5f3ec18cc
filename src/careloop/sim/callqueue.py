"""The call queue in the simulator: staff minutes spent against care gaps closed.

Each simulated patient has an open call task. The truth comes from the population's own
hidden tastes (the plug-in contract's ``response_probability``), so the same code judges the
default and the alternative population:

* digital only: the patient replies to their best reachable digital channel and window with
  probability ``p_dig``; a reply closes the gap with probability ``REPLY_CLOSES``;
* a human call reaches them with probability ``min(1, CALL_REACH * p_voice)`` (their taste for
  calls, improved by a person who calls back), and a conversation closes the gap with
  probability ``CALL_CLOSES``; unreached, the digital route still applies.

So the true uplift is ``reach * (CALL_CLOSES - closed_digital)``: large for people who answer
the phone and ignore messages, near zero for those who would act on a text anyway.

A *pilot* cohort is called at random with a logged propensity that depends on age (older
patients more often), the learners are fitted on it, and a fresh cohort's queue is worked down
within a budget of staff minutes by each ranking. Gaps closed are expectations (free of
coin-flip noise), as in ``careloop simulate``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import numpy as np
import numpy.typing as npt

from careloop.personalize.actions import CHANNELS, SEND_WINDOWS, Action, ActionSpace
from careloop.personalize.arrays import BoolArray, FloatArray
from careloop.personalize.callqueue import CALL_MINUTES, call_minutes
from careloop.personalize.features import Featurizer
from careloop.personalize.profile import StatedPreferences
from careloop.personalize.uplift import Learner, fit_uplift
from careloop.sim.population import EPOCH
from careloop.sim.runner import load_population

REPLY_CLOSES = 0.5
CALL_REACH = 1.5
CALL_CLOSES = 0.7
TASK_TYPES = ("outreach-call", "checkin-missing", "care-gap-review")
RANKINGS = ("due_date", "benefit_t", "benefit_dr", "oracle")
_DIGITAL = ("sms", "email", "portal")
_HAS = {"sms": "has_mobile", "email": "has_email", "portal": "has_portal"}


@dataclass(frozen=True)
class CallCohort:
    """One cohort's open call tasks with their true outcome probabilities."""

    features: FloatArray
    closed_digital: FloatArray
    uplift: FloatArray
    minutes: FloatArray
    due_days: FloatArray
    call_propensity: FloatArray


def pilot_propensity(age: FloatArray) -> FloatArray:
    """The holdout's call probability, logged with each task: 0.6 from 65, else 0.3."""
    return np.where(age >= 65, 0.6, 0.3)


def make_cohort(population_spec: str, *, n: int, seed: int) -> CallCohort:
    population = load_population(population_spec, n=n, seed=seed)
    patients = list(population.patients)
    sent = EPOCH + timedelta(days=15)
    p_dig = np.zeros(n)
    p_voice = np.zeros(n)
    for i, patient in enumerate(patients):
        cov = patient.covariates
        for channel in CHANNELS:
            if channel != "voice" and not cov.get(_HAS[channel]):
                continue
            best = max(
                population.response_probability(
                    patient.id,
                    Action(channel, window, "standard", "friendly"),
                    touch=5,
                    sent_at=sent,
                )
                for window in SEND_WINDOWS
            )
            if channel == "voice":
                p_voice[i] = best
            else:
                p_dig[i] = max(p_dig[i], best)
    rng = np.random.default_rng([seed, 0xCA11])
    closed_digital = REPLY_CLOSES * p_dig
    reach = np.minimum(1.0, CALL_REACH * p_voice)
    types = rng.choice(len(TASK_TYPES), n)
    featurizer = Featurizer(ActionSpace())
    features = featurizer.matrix([(p.covariates, StatedPreferences()) for p in patients])
    age = np.array([float(p.covariates.get("age") or 55) for p in patients])
    return CallCohort(
        features=features,
        closed_digital=closed_digital,
        uplift=reach * (CALL_CLOSES - closed_digital),
        minutes=np.array([call_minutes(TASK_TYPES[t], CALL_MINUTES) for t in types]),
        due_days=rng.integers(0, 31, n).astype(np.float64),
        call_propensity=pilot_propensity(age),
    )


def run_pilot(cohort: CallCohort, *, seed: int) -> tuple[BoolArray, FloatArray]:
    """Randomize calls with the logged propensities; draw the outcomes."""
    rng = np.random.default_rng([seed, 0x9170])
    treated = rng.random(len(cohort.uplift)) < cohort.call_propensity
    p = cohort.closed_digital + treated * cohort.uplift
    outcome = (rng.random(len(p)) < p).astype(np.float64)
    return treated, outcome


def work_queue(order: npt.NDArray[np.intp], minutes: FloatArray, budget: float) -> BoolArray:
    """Call down the queue until the next call no longer fits the staff minutes."""
    spent = np.cumsum(minutes[order])
    called = np.zeros(len(minutes), dtype=bool)
    called[order[spent <= budget]] = True
    return called


def compare(
    population_spec: str,
    *,
    pilot: int,
    queue: int,
    seed: int,
    budgets: tuple[float, ...] = (0.1, 0.25, 0.5),
) -> dict[str, Any]:
    """Fit on a randomized pilot, then work a fresh queue by each ranking within each budget."""
    train = make_cohort(population_spec, n=pilot, seed=seed)
    treated, outcome = run_pilot(train, seed=seed)
    test = make_cohort(population_spec, n=queue, seed=seed + 1)
    scores: dict[str, FloatArray] = {"oracle": test.uplift / test.minutes}
    for learner in ("t", "dr"):
        name: Learner = "t" if learner == "t" else "dr"
        model = fit_uplift(name, train.features, treated, outcome, train.call_propensity, seed=seed)
        scores[f"benefit_{learner}"] = model.predict(test.features) / test.minutes
    index = np.arange(queue)
    orders = {
        "due_date": np.lexsort((index, test.due_days)),
        **{k: np.lexsort((index, test.due_days, -v)) for k, v in scores.items()},
    }
    total = float(test.minutes.sum())
    digital = float(test.closed_digital.sum())
    rows = []
    for share in budgets:
        for ranking in RANKINGS:
            called = work_queue(orders[ranking], test.minutes, share * total)
            extra = float(test.uplift[called].sum())
            rows.append(
                {
                    "budget_share": share,
                    "ranking": ranking,
                    "calls": int(called.sum()),
                    "staff_minutes": round(float(test.minutes[called].sum()), 1),
                    "gaps_closed": round(digital + extra, 1),
                    "extra_gaps": round(extra, 1),
                    "extra_per_100_calls": round(100 * extra / max(1, int(called.sum())), 2),
                }
            )
    return {
        "population": population_spec,
        "pilot": pilot,
        "queue": queue,
        "seed": seed,
        "pilot_calls": int(treated.sum()),
        "digital_only_gaps": round(digital, 1),
        "rows": rows,
    }
