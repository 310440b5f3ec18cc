"""dspx: a SIGTERM that reaches the supervisor after it has reaped a dead child and decided to
re-fork it, but before the fork, is forwarded to the children alive at that moment only: the
re-forked child never hears it and the supervisor waits on it forever (systemd then SIGKILLs
the lot after TimeoutStopSec, the re-forked worker mid-batch).

The window is made deterministic with the supervisor's injected clock: ``monotonic()`` is
read between the "stopping?" check and the fork, and here it delivers the SIGTERM."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

SCRIPT = textwrap.dedent(
    """
    import os, signal, sys, time
    from pathlib import Path
    from careloop.compose.supervisor import supervise

    marker = Path(sys.argv[1])

    def child(slot, stop):
        if not marker.exists():  # the first child dies at once: it is re-forked
            marker.write_text("died")
            return 3
        while not stop():  # the re-forked one works until told to stop
            time.sleep(0.01)
        return 0

    told = []

    def clock():
        if not told:  # the stop signal lands between the reap and the re-fork
            told.append(1)
            os.kill(os.getpid(), signal.SIGTERM)
        return time.monotonic()

    report = supervise(child, processes=1, monotonic=clock)
    print("returned", report.forked, report.replaced, flush=True)
    """
)


def test_a_stop_signal_during_a_refork_still_stops_every_child(tmp_path: Path) -> None:
    script = tmp_path / "supervisor.py"
    script.write_text(SCRIPT)
    process = subprocess.Popen(
        [sys.executable, str(script), str(tmp_path / "marker")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        out, err = process.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        import os
        import signal

        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise AssertionError(
            "supervise() never returned: the child forked after the SIGTERM was not told"
        ) from None
    assert process.returncode == 0, err.decode()
    assert out.decode().startswith("returned")
