"""The judge's figures, old build against new, from paired ``careloop simulate --json`` files.

    .venv/bin/python benchmarks/judge_pairs.py --old old-1.json,old-2.json,old-3.json \
        --new new-1.json,new-2.json,new-3.json

Each old file is paired with the new file of the same seed (same order). Prints, per build,
the bandit's ratio to the oracle at touch 10, at the last touch and over the last ten touches,
its cumulative engagement as a multiple of the best static policy's, the first touch from
which it stays at or above static (per seed), and the paired differences per seed: one touch
moves by a few points between seeds, so a change is judged on the paired mean.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import Any

KEYS = ("at_10", "at_end", "last_10", "cumulative_x_static")


def figures(report: dict[str, Any]) -> dict[str, float]:
    """One run's figures (see the module's docstring)."""
    bandit, static = report["policies"]["bandit"], report["policies"]["static"]
    ratio = bandit["oracle_ratio"]
    ours, theirs = bandit["per_touch"], static["per_touch"]
    stays = next(
        (
            t + 1
            for t in range(len(ours))
            if all(a >= b for a, b in zip(ours[t:], theirs[t:], strict=True))
        ),
        len(ours) + 1,
    )
    return {
        "at_10": ratio[min(9, len(ratio) - 1)],
        "at_end": ratio[-1],
        "last_10": statistics.fmean(ratio[-10:]),
        "cumulative_x_static": bandit["cumulative"] / static["cumulative"],
        "static_from": float(stays),
    }


def summary(rows: list[dict[str, float]]) -> dict[str, Any]:
    out: dict[str, Any] = {
        key: {
            "mean": round(statistics.fmean(r[key] for r in rows), 4),
            "sd": round(statistics.pstdev(r[key] for r in rows), 4),
        }
        for key in KEYS
    }
    out["static_from"] = [int(r["static_from"]) for r in rows]
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--old", required=True, help="comma-separated simulate JSON files")
    parser.add_argument("--new", required=True, help="the same seeds, same order")
    args = parser.parse_args()
    old = [figures(json.loads(Path(p).read_text())) for p in args.old.split(",")]
    new = [figures(json.loads(Path(p).read_text())) for p in args.new.split(",")]
    if len(old) != len(new):
        raise SystemExit("--old and --new need one file per seed each")
    delta = {
        key: {
            "mean": round(
                statistics.fmean(n[key] - o[key] for o, n in zip(old, new, strict=True)), 4
            ),
            "per_seed": [round(n[key] - o[key], 4) for o, n in zip(old, new, strict=True)],
        }
        for key in KEYS
    }
    print(json.dumps({"old": summary(old), "new": summary(new), "delta": delta}, indent=1))


if __name__ == "__main__":
    main()
