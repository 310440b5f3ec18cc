"""A reference learner that knows each population's true generative prior: how close to the
per-patient oracle can any learner that must learn from replies get by touch 50?

    .venv/bin/python benchmarks/oracle_bound.py --patients 1000 --touches 50 --seeds 1,2,3 \
        [--population examples.populations.alt:make] [--learner ts|greedy|kg]

No deployed engine can know what this learner is given: the population's code. Per patient it
holds the exact prior of the simulator (covariate effects computed from the covariates the
way the population computes them, the spread of the individual tastes, of the drift and of
the fatigue; for the alternative population, the archetype mixture and its weights from
age, education and work), with the exact response model (logistic, with the default
population's fatigue and drift terms as features, the weekend window shift as a known
offset, the alternative population's shared fatigue multiplier in the likelihood). Inference is a
Laplace approximation per patient and per mixture component, refitted on the whole history
at every touch (Newton steps from the previous mode), the components reweighted by their
Laplace evidence. Only two things of the truth are simplified: the fatigue rate's gamma
prior is replaced by a normal of the same mean and spread, and stated preferences are not
used (they are worth most at the first touches, not at touch 50).

Three policies on that posterior:

* ``ts``: Thompson sampling (component, then parameters, then the best feasible action);
* ``greedy``: the best action by posterior mean reply rate, no exploration;
* ``kg``: online knowledge gradient with the horizon known: the posterior mean reply rate
  plus (touches left) x the expected gain in the best posterior mean after one more reply,
  from a one-step Laplace update of every candidate action (a one-step lookahead, the
  tractable stand-in for a Gittins-style index on correlated arms);
* ``kg_final``: the same gain alone until the last touch, then the best posterior mean: a
  learner that sacrifices every earlier touch to be right at the last one.

It runs inside ``careloop simulate``'s own ``simulate`` (same world draws, truths, feasible
sets, oracle and seeds as ``oracle_ratio.py``) and prints the same rows and summary.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np
from scipy.special import expit, logsumexp

from careloop.sim import runner
from careloop.sim.policies import Touch
from careloop.sim.population import _INTRUSIVE, _WORK_WINDOW, DefaultPopulation

A = 96  # 4 channels x 4 windows x 3 reading levels x 2 tones
_CH, _WI, _RE, _TO = np.unravel_index(np.arange(A), (4, 4, 3, 2))
_LANGUAGES = ("en-US", "es-US", "vi-VN", "zh-CN")
_EDUCATION = (None, "secondary", "college", "postgraduate")


def _months(t: int) -> float:
    sent = t * 3 + 17 / 24  # runner: touch every 3 days at 11:00 UTC, table sent 6 h later
    return sent / 30.44


def _weekend(t: int) -> bool:
    # EPOCH is a Monday; 17:00 UTC is noon in New York, so the UTC day is the local day
    return (t * 3) % 7 >= 5


class Prior:
    """Per patient: K components, each a normal on D parameters; the design of every action."""

    def __init__(self, mean: np.ndarray, sd: np.ndarray, log_weight: np.ndarray) -> None:
        n, k, d = mean.shape
        self.mean, self.log_weight = mean, log_weight
        self.precision = np.broadcast_to(np.diag(1.0 / sd**2), (n, k, d, d)).copy()

    def moment_matched(self, *, diagonal: bool) -> None:
        """Replace the mixture by one normal with its mean and covariance (or only its
        variances): what a learner that knows the prior's first two moments, or only its
        means and spreads, could use."""
        w = np.exp(self.log_weight)[..., None]
        mean = (w * self.mean).sum(1)
        cov = np.linalg.inv(self.precision)
        centred = self.mean - mean[:, None, :]
        outer = np.einsum("nkd,nke->nkde", centred, centred)
        total = (w[..., None] * (cov + outer)).sum(1)
        if diagonal:
            total = total * np.eye(total.shape[-1])
        self.mean = mean[:, None, :]
        self.precision = np.linalg.inv(total)[:, None]
        self.log_weight = np.zeros((mean.shape[0], 1))

    def design(self, t: int) -> np.ndarray:  # A x D
        raise NotImplementedError

    def offset(self, t: int) -> np.ndarray:  # N x A
        raise NotImplementedError

    def multiplier(self, t: int) -> float:
        return 1.0


class DefaultPrior(Prior):
    """base + individual (13) + drift (13) + fatigue rate: D = 28, one component."""

    def __init__(self, patients: list[Any]) -> None:
        cov = [p.covariates for p in patients]
        age = np.array([c["age"] for c in cov])
        language = np.array([_LANGUAGES.index(c["language"]) for c in cov])
        education = np.array([_EDUCATION.index(c["education"]) for c in cov])
        self.works = np.array([c["works_daytime"] for c in cov])
        caregiver = np.array([c["caregiver"] for c in cov])
        portal = np.array([c["has_portal"] for c in cov])
        structured = DefaultPopulation._structured_effects(
            age, language, education, self.works, caregiver, portal
        )
        self.structured = (
            structured[0][:, _CH] + structured[1][:, _WI] + structured[2][:, _RE]
        ) + structured[3][:, _TO]
        n = len(patients)
        mean = np.zeros((n, 1, 28))
        mean[:, 0, 0] = -1.3 - 0.3 * (language >= 2)
        mean[:, 0, 27] = 2.0 * 0.18
        sigma = np.repeat([0.8, 0.6, 0.5, 0.4], [4, 4, 3, 2])
        drift = np.repeat([0.5, 0.4, 0.2, 0.2], [4, 4, 3, 2])
        sd = np.concatenate([[0.5], sigma, drift, [np.sqrt(2.0) * 0.18]])
        super().__init__(mean, sd, np.zeros((n, 1)))
        onehot = np.zeros((A, 13))
        for start, index in ((0, _CH), (4, _WI), (8, _RE), (11, _TO)):
            onehot[np.arange(A), start + index] = 1.0
        self.onehot = onehot

    def design(self, t: int) -> np.ndarray:
        fatigue = -_INTRUSIVE[_CH] * np.log1p(t / 5)
        return np.column_stack([np.ones(A), self.onehot, self.onehot * _months(t) / 6, fatigue])

    def offset(self, t: int) -> np.ndarray:
        if not _weekend(t):
            return self.structured
        return self.structured - np.where(self.works[:, None], _WORK_WINDOW[_WI][None, :], 0.0)


class AltPrior(Prior):
    """base + joint channel x window (16) + reading (3) + tone (2): D = 22, five archetypes."""

    def __init__(self, patients: list[Any]) -> None:
        from alt import _ARCHETYPES  # examples/populations on the path

        tables = np.array([np.asarray(v).ravel() for v in _ARCHETYPES.values()])  # 5 x 16
        n = len(patients)
        mean = np.zeros((n, 5, 22))
        log_weight = np.zeros((n, 5))
        for i, p in enumerate(patients):
            c = p.covariates
            age, education, works = c["age"], c["education"], c["works_daytime"]
            logits = np.array(
                [
                    1.0 if age < 40 else 0.0,
                    0.8 if education in ("college", "postgraduate") else 0.0,
                    1.5 if age >= 70 else -0.5,
                    0.3,
                    1.2 if works else 0.0,
                ]
            )
            log_weight[i] = logits - logsumexp(logits)
            level = {"postgraduate": 2, "college": 1}.get(str(education), 0)
            mean[i, :, 0] = -0.9
            mean[i, :, 1:17] = tables
            mean[i, :, 17:20] = -0.5 * np.abs(np.arange(3) - level)
            mean[i, :, 21] = 0.3 if age > 60 else 0.0
        sd = np.concatenate([[0.4], np.full(16, 0.5), np.full(3, 0.3), np.full(2, 0.3)])
        super().__init__(mean, sd, log_weight)
        x = np.zeros((A, 22))
        x[:, 0] = 1.0
        x[np.arange(A), 1 + _CH * 4 + _WI] = 1.0
        x[np.arange(A), 17 + _RE] = 1.0
        x[np.arange(A), 20 + _TO] = 1.0
        self.x = x
        self.zero = np.zeros((n, A))

    def design(self, t: int) -> np.ndarray:
        return self.x

    def offset(self, t: int) -> np.ndarray:
        return self.zero

    def multiplier(self, t: int) -> float:
        return 1.0 - 0.25 * min(t, 60) / 60


class BayesLearner:
    """Laplace posterior per patient and component, refitted on the whole history each touch."""

    name = "bound"

    def __init__(self, prior: Prior, *, rule: str, touches: int) -> None:
        self.prior, self.rule, self.touches = prior, rule, touches
        n, _, d = prior.mean.shape
        self.mode = prior.mean.copy()
        self.x = np.zeros((n, touches, d))  # the design row of each reply so far
        self.off = np.zeros((n, touches))
        self.mult = np.zeros(touches)
        self.y = np.zeros((n, touches))
        self.seen = 0
        self.fisher = prior.precision.copy()
        self.log_weight = prior.log_weight.copy()

    def _fit(self, steps: int = 4) -> None:
        s = self.seen
        x, off, y, m = self.x[:, :s], self.off[:, :s], self.y[:, :s], self.mult[:s]
        lam = self.prior.precision
        for _ in range(steps):
            eta = off[:, None, :] + np.einsum("nsd,nkd->nks", x, self.mode)
            sig = expit(eta)
            p = np.clip(m * sig, 1e-9, 1 - 1e-9)
            dp = m * sig * (1 - sig)
            score = (y[:, None, :] - p) * dp / (p * (1 - p))
            weight = dp * dp / (p * (1 - p))
            pull = np.einsum("nkde,nke->nkd", lam, self.mode - self.prior.mean)
            grad = np.einsum("nks,nsd->nkd", score, x) - pull
            xw = x[:, None, :, :] * weight[..., None]
            self.fisher = np.einsum("nksd,nse->nkde", xw, x) + lam
            step = np.linalg.solve(self.fisher, grad[..., None])[..., 0]
            self.mode = self.mode + step
        eta = off[:, None, :] + np.einsum("nsd,nkd->nks", x, self.mode)
        p = np.clip(m * expit(eta), 1e-12, 1 - 1e-12)
        loglik = (y[:, None, :] * np.log(p) + (1 - y[:, None, :]) * np.log1p(-p)).sum(-1)
        centred = self.mode - self.prior.mean
        _, logdet = np.linalg.slogdet(self.fisher)
        _, prior_logdet = np.linalg.slogdet(lam)
        quad = np.einsum("nkd,nkde,nke->nk", centred, lam, centred)
        evidence = loglik - 0.5 * quad + 0.5 * prior_logdet - 0.5 * logdet
        self.log_weight = self.prior.log_weight + evidence
        self.log_weight -= logsumexp(self.log_weight, axis=1, keepdims=True)

    def _moments(self, t: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per patient, component and action: mean and variance of the logit; the covariances
        of the logits (N x K x A x A) are only built for the knowledge gradient."""
        x = self.prior.design(t)
        cov = np.linalg.inv(self.fisher)
        mean = self.prior.offset(t)[:, None, :] + np.einsum("ad,nkd->nka", x, self.mode)
        xc = np.einsum("ad,nkde->nkae", x, cov)
        var = np.einsum("nkae,ae->nka", xc, x)
        return mean, var, xc

    def choose(self, touch: Touch, rng: np.random.Generator) -> np.ndarray:
        t = touch.index
        if self.seen:
            self._fit()
        mean, var, xc = self._moments(t)
        m = self.prior.multiplier(t)
        weight = np.exp(self.log_weight)
        if self.rule == "ts":
            n, k, d = self.mode.shape
            u = rng.random(n)
            comp = np.minimum((np.cumsum(weight, axis=1) < u[:, None]).sum(1), k - 1)
            rows = np.arange(n)
            chol = np.linalg.cholesky(self.fisher[rows, comp])
            z = rng.standard_normal((n, d, 1))
            theta = self.mode[rows, comp] + np.linalg.solve(np.swapaxes(chol, 1, 2), z)[..., 0]
            x = self.prior.design(t)
            score = self.prior.offset(t) + theta @ x.T
        else:
            value = (weight[..., None] * m * expit(mean / np.sqrt(1 + np.pi * var / 8))).sum(1)
            score = value
            left = self.touches - t - 1
            if self.rule == "kg":
                score = value + left * self._knowledge_gradient(t, mean, var, xc, weight, touch)
            elif self.rule == "kg_final" and left > 0:
                # only the last touch counts: learn as much as one reply can, then exploit
                score = self._knowledge_gradient(t, mean, var, xc, weight, touch) + 1e-6 * value
        score = np.where(touch.feasible, score, -np.inf)
        return np.asarray(np.argmax(score, axis=1), dtype=np.int64)

    def _knowledge_gradient(
        self,
        t: int,
        mean: np.ndarray,
        var: np.ndarray,
        xc: np.ndarray,
        weight: np.ndarray,
        touch: Touch,
    ) -> np.ndarray:
        """Expected rise of the best feasible posterior mean reply rate after one more reply to
        each action: a one-step Laplace update per component, components reweighted by y."""
        x = self.prior.design(t)
        m = self.prior.multiplier(t)
        n = mean.shape[0]
        out = np.empty((n, A))
        for lo in range(0, n, 50):
            sl = slice(lo, lo + 50)
            c = np.einsum("nkae,be->nkab", xc[sl], x)  # logit covariances, per candidate a
            mu, v, w = mean[sl], var[sl], weight[sl]
            sig = expit(mu / np.sqrt(1 + np.pi * v / 8))  # predictive, per component
            curv = expit(mu) * (1 - expit(mu))
            denom = 1 + curv * v
            feas = touch.feasible[sl][:, None, :]
            now_best = np.max(
                np.where(feas[:, 0], (w[..., None] * m * sig).sum(1), -np.inf), axis=1
            )
            p_a = m * sig  # P(y=1 | component, a)
            wa = w[..., None]
            p_mix = (wa * p_a).sum(1)  # n x A
            gain = -now_best[:, None] * np.ones((1, A))
            for y in (0.0, 1.0):
                like = p_a if y else 1 - p_a
                w_new = wa * like / np.maximum((wa * like).sum(1, keepdims=True), 1e-12)
                shift = (y - expit(mu))[..., None] / denom[..., None] * c  # n k a b
                var_new = v[:, :, None, :] - (curv / denom)[..., None] * c**2
                mu_new = mu[:, :, None, :] + shift
                val = expit(mu_new / np.sqrt(1 + np.pi * np.maximum(var_new, 0) / 8))
                val = (w_new[..., None] * m * val).sum(1)  # n a b
                best = np.max(np.where(feas, val, -np.inf), axis=2)
                gain += (p_mix if y else 1 - p_mix) * best
            out[sl] = gain
        return out

    def learn(self, touch: Touch, choices: np.ndarray, rewards: np.ndarray) -> None:
        t, s = touch.index, self.seen
        self.x[:, s] = self.prior.design(t)[choices]
        self.off[:, s] = self.prior.offset(t)[np.arange(len(choices)), choices]
        self.mult[s] = self.prior.multiplier(t)
        self.y[:, s] = rewards
        self.seen += 1


def run(
    population_spec: str, *, n: int, seed: int, touches: int, rule: str, prior_kind: str
) -> dict[str, Any]:
    population = runner.load_population(population_spec, n=n, seed=seed)
    patients = list(population.patients)
    prior: Prior = (
        AltPrior(patients) if population_spec.startswith("examples") else DefaultPrior(patients)
    )
    if prior_kind != "true":
        prior.moment_matched(diagonal=prior_kind == "diagonal")
    original = runner._policy

    def policy(name: str, **kwargs: Any) -> Any:
        if name == "bound":
            return BayesLearner(prior, rule=rule, touches=touches)
        return original(name, **kwargs)

    runner._policy = policy  # type: ignore[assignment]
    try:
        return runner.simulate(
            population=population, policies=["bound"], touches=touches, seed=seed
        )
    finally:
        runner._policy = original


def main() -> None:
    parser = argparse.ArgumentParser()
    for flag, default in (("--patients", 1000), ("--touches", 50)):
        parser.add_argument(flag, type=int, default=default)
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--population", default=runner.DEFAULT_POPULATION)
    parser.add_argument("--learner", choices=("ts", "greedy", "kg", "kg_final"), default="kg")
    parser.add_argument("--prior", choices=("true", "normal", "diagonal"), default="true")
    args = parser.parse_args()
    sys.path.insert(0, os.getcwd())  # example populations load from the repository root
    sys.path.insert(0, os.path.join(os.getcwd(), "examples", "populations"))
    rows: list[dict[str, float]] = []
    for seed in (int(s) for s in args.seeds.split(",")):
        started = time.perf_counter()
        report = run(
            args.population,
            n=args.patients,
            seed=seed,
            touches=args.touches,
            rule=args.learner,
            prior_kind=args.prior,
        )
        bound = report["policies"]["bound"]
        ratio = bound["oracle_ratio"]
        figures = {  # as oracle_ratio.py reports the engine, so the two read side by side
            "at_10": ratio[min(9, len(ratio) - 1)],
            "at_end": ratio[-1],
            "last_10": round(statistics.fmean(ratio[-10:]), 5),
            "cumulative": bound["cumulative"],
        }
        rows.append(figures)
        seconds = round(time.perf_counter() - started, 1)
        print(json.dumps({"seed": seed, **figures, "seconds": seconds}), flush=True)
    spread = {
        key: {"mean": round(statistics.fmean(values), 4), "sd": round(statistics.pstdev(values), 4)}
        for key, values in ((k, [r[k] for r in rows]) for k in rows[0])
    }
    setting = {"population": args.population, "learner": args.learner, "prior": args.prior}
    print(json.dumps({**setting, **spread}))


if __name__ == "__main__":
    main()
