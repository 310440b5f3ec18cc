"""``benchmarks/judge_pairs.py`` reads the judge's figures the ninth pass of
``docs/personalize.md`` reports: a bandit that dips below static late must not count as
at or above static from its first good touch, and deltas pair each seed with itself."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from types import ModuleType

import pytest
from tests.scripts import load_benchmark


@pytest.fixture(scope="module")
def judge() -> ModuleType:
    return load_benchmark("judge_pairs")


def _report(bandit: list[float], static: list[float], ratio: list[float]) -> dict[str, object]:
    return {
        "policies": {
            "bandit": {
                "per_touch": bandit,
                "cumulative": sum(bandit) / len(bandit),
                "oracle_ratio": ratio,
            },
            "static": {"per_touch": static, "cumulative": sum(static) / len(static)},
        }
    }


def test_at_or_above_static_counts_from_the_touch_it_stays_there(judge: ModuleType) -> None:
    static = [0.3] * 12
    bandit = [0.2, 0.4, 0.4, 0.25, 0.35, 0.4, 0.4, 0.4, 0.4, 0.4, 0.4, 0.4]
    ratio = [0.5 + 0.01 * t for t in range(12)]
    figures = judge.figures(_report(bandit, static, ratio))
    assert figures["static_from"] == 5  # touch 2 was above, but touch 4 fell below again
    assert figures["at_10"] == pytest.approx(0.59)
    assert figures["at_end"] == pytest.approx(0.61)
    assert figures["last_10"] == pytest.approx(0.565)


def test_deltas_pair_each_seed_with_itself(
    judge: ModuleType,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    paths: dict[str, list[str]] = {"old": [], "new": []}
    for build, shift in (("old", 0.0), ("new", 0.02)):
        for seed, base in ((1, 0.7), (2, 0.8)):
            path = tmp_path / f"{build}-{seed}.json"
            ratio = [base + shift] * 10
            path.write_text(json.dumps(_report([0.5] * 10, [0.3] * 10, ratio)))
            paths[build].append(str(path))
    argv = ["judge_pairs.py", "--old", ",".join(paths["old"]), "--new", ",".join(paths["new"])]
    monkeypatch.setattr(sys, "argv", argv)
    judge.main()
    out = json.loads(capsys.readouterr().out)
    assert out["delta"]["at_end"]["per_seed"] == [0.02, 0.02]
    assert out["old"]["at_end"]["mean"] == pytest.approx(0.75)
    assert out["new"]["static_from"] == [1, 1]
