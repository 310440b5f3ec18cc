"""The worker supervisor's own rules, with real forks (``careloop worker --processes N`` runs
it: tests/ops/test_worker_processes.py)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import pytest

from careloop.compose.supervisor import supervise


def test_children_that_finish_their_work_are_not_forked_again_with_once() -> None:
    report = supervise(lambda _slot, _stop: 0, processes=3, once=True)

    assert (report.forked, report.replaced, report.crash_loop) == (3, 0, False)


def test_a_child_that_keeps_dying_is_a_crash_loop_not_forked_forever() -> None:
    report = supervise(lambda _slot, _stop: 3, processes=2, max_deaths=4, window_s=60.0)

    assert report.crash_loop
    assert report.replaced == 4  # four re-forks, the fifth death ends it
    assert report.deaths[0].endswith("exit code 3")


def test_a_child_that_fails_is_logged_by_its_error_class_never_its_message(
    tmp_path: Path,
) -> None:
    log_file = tmp_path / "child.log"

    def fail(slot: int, _stop: Callable[[], bool]) -> int:
        logging.getLogger("careloop.supervisor").addHandler(logging.FileHandler(log_file))
        raise ValueError("Ana Lopez, +16175550199")  # what a failure may carry: PHI

    report = supervise(fail, processes=1, max_deaths=0)

    assert report.crash_loop
    assert report.deaths == ["slot 0: exit code 1"]
    logged = log_file.read_text()
    assert "failed: ValueError" in logged
    assert "Lopez" not in logged
    assert "6175550199" not in logged


def test_at_least_one_process() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        supervise(lambda _slot, _stop: 0, processes=0)
