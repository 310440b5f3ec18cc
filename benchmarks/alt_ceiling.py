"""How close to the oracle can any engine get on the alternative population?

    .venv/bin/python benchmarks/alt_ceiling.py --patients 2000 --seeds 1,2

Each patient of ``examples/populations/alt.py`` has an archetype's channel x window table
plus individual noise (sd 0.5) on every one of the 16 cells. A "kind oracle" that knows the
archetype, the reading level and the tone exactly but not the individual cell noise picks the
archetype's best cell; the ratio of its engagement to the per-patient oracle's bounds what
learning the kind can give. (Archetypes are recovered as the nearest table: the tables are
far apart compared with the noise.) Constraints are ignored: every action is allowed.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np
from scipy.special import expit


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--patients", type=int, default=2000)
    parser.add_argument("--seeds", default="1,2")
    args = parser.parse_args()
    sys.path.insert(0, os.getcwd())  # run from the repository root
    from examples.populations import alt

    tables = np.array([alt._ARCHETYPES[k] for k in alt._NAMES])  # kinds x 4 x 4
    n = args.patients
    for seed in (int(s) for s in args.seeds.split(",")):
        pop = alt.make(n, seed)
        joint = pop._joint.reshape(n, -1)
        kind = ((pop._joint[:, None] - tables[None]) ** 2).sum(axis=(2, 3)).argmin(axis=1)
        rest = pop._base + pop._reading.max(axis=1) + pop._tone.max(axis=1)
        best = expit(rest + joint.max(axis=1)).mean()
        by_kind = tables[kind].reshape(n, -1).argmax(axis=1)
        kind_only = expit(rest + joint[np.arange(n), by_kind]).mean()
        print(f"seed {seed}: kind oracle / oracle = {kind_only / best:.3f}")


if __name__ == "__main__":
    main()
