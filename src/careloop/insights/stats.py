"""Differences of proportions with 95 % intervals, for holdout uplift.

The interval is Newcombe's hybrid score interval (method 10 of Newcombe 1998, "Interval
estimation for the difference between independent proportions"), built from the two Wilson
score intervals. Chosen over Wald because it keeps its coverage with small groups and rates
near 0 or 1 (a 2 % no-show difference between a few hundred patients is the usual case) and
never leaves [-1, 1].

The power note answers "how many patients until the interval excludes zero?": if the observed
rates held, the per-arm size at which the Wald half-width equals the observed difference
(about 50 % power) and the size for 80 % power at two-sided alpha 0.05.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy.stats import norm

from careloop.errors import InvalidInput

Z95 = float(norm.ppf(0.975))
Z80 = float(norm.ppf(0.80))
MIN_ARM = 10
"""Fewer patients in an arm than this and no rate can rest on 5 successes and 5 failures (what
the intervals' approximations need): the interval is noise, whatever it says. A holdout of 1
gave "+20.0% (-60.6%, +51.0%)", which read as a result."""


def wilson_interval(successes: int, n: int, *, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of one proportion."""
    if n <= 0:
        raise InvalidInput("a proportion needs at least one observation", field="n")
    if not 0 <= successes <= n:
        raise InvalidInput("successes must be between 0 and n", field="successes")
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    # Exact ends at 0 and n (the formula gives them up to rounding).
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return low, high


@dataclass(frozen=True, slots=True)
class Difference:
    """Treated minus control, with its 95 % interval and a power note."""

    treated_rate: float
    control_rate: float
    difference: float
    low: float
    high: float
    excludes_zero: bool
    n_per_arm_to_exclude_zero: int | None
    n_per_arm_for_80_power: int | None


def _needed(p1: float, p2: float, z: float) -> int | None:
    diff = p1 - p2
    if diff == 0:
        return None
    variance = p1 * (1 - p1) + p2 * (1 - p2)
    if variance == 0:
        return 1
    return math.ceil(z * z * variance / (diff * diff))


def difference_of_proportions(
    *, treated_successes: int, treated_n: int, control_successes: int, control_n: int
) -> Difference:
    """Newcombe hybrid score interval for ``p_treated − p_control`` plus the power note."""
    p1 = treated_successes / treated_n if treated_n > 0 else 0.0
    p2 = control_successes / control_n if control_n > 0 else 0.0
    l1, u1 = wilson_interval(treated_successes, treated_n)
    l2, u2 = wilson_interval(control_successes, control_n)
    diff = p1 - p2
    low = diff - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = diff + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return Difference(
        treated_rate=p1,
        control_rate=p2,
        difference=diff,
        low=max(-1.0, low),
        high=min(1.0, high),
        excludes_zero=low > 0 or high < 0,
        n_per_arm_to_exclude_zero=_needed(p1, p2, Z95),
        n_per_arm_for_80_power=_needed(p1, p2, Z95 + Z80),
    )


def too_few(*, treated_n: int, control_n: int) -> str | None:
    """Why the arms are too small for an interval to mean anything, or None when they are not."""
    small = [
        f"a {name} of {n}"
        for name, n in (("treated group", treated_n), ("holdout", control_n))
        if n < MIN_ARM
    ]
    if not small:
        return None
    return f"too few to tell: {' and '.join(small)}"


def power_note(diff: Difference, *, treated_n: int, control_n: int) -> str:
    """What the interval can say: too few to tell, already excludes zero, or how many patients
    per arm it would take (if the observed rates held)."""
    small = too_few(treated_n=treated_n, control_n=control_n)
    if small is not None:
        return f"{small} (at least {MIN_ARM} per arm before the interval means anything)"
    if diff.excludes_zero:
        return "the interval already excludes zero"
    if diff.n_per_arm_to_exclude_zero is None:
        return "no difference observed: no sample size would separate the arms"
    needed = diff.n_per_arm_to_exclude_zero
    return f"about {needed} patients per arm until the interval would exclude zero"
