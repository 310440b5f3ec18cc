"""The worker supervisor's own rules, with real forks (``careloop worker --processes N`` runs
it: tests/ops/test_worker_processes.py)."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from careloop.compose.supervisor import supervise
from tests.channels.servers import wait_for


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


def test_children_stop_when_their_supervisor_is_killed(tmp_path: Path) -> None:
    """SIGKILL forwards nothing: each child sees its supervisor gone and stops on its own."""
    script = (
        "import pathlib, sys, time\n"
        "from careloop.compose.supervisor import supervise\n"
        "folder = pathlib.Path(sys.argv[1])\n"
        "def child(slot, stop):\n"
        "    (folder / f'started-{slot}').touch()\n"
        "    while not stop():\n"
        "        time.sleep(0.05)\n"
        "    (folder / f'stopped-{slot}').touch()\n"
        "    return 0\n"
        "supervise(child, processes=2)\n"
    )
    supervisor = subprocess.Popen([sys.executable, "-c", script, str(tmp_path)])
    wait_for(lambda: len(list(tmp_path.glob("started-*"))) == 2, seconds=60)
    supervisor.kill()
    supervisor.wait()

    wait_for(lambda: len(list(tmp_path.glob("stopped-*"))) == 2, seconds=10)
