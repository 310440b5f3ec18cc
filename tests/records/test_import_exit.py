"""``careloop import`` ends cleanly: an operator's import prints its summary and nothing else."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.records.conftest import synthea_dir


def test_an_import_that_resolved_time_zones_exits_without_a_traceback(tmp_path: Path) -> None:
    bundle = sorted(synthea_dir().glob("*.json"))[0]  # its address carries a geolocation
    done = subprocess.run(
        [sys.executable, "-m", "careloop", "import", str(bundle), "--json",
         "--database", f"sqlite:///{tmp_path / 'import.db'}"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert '"patients": 1' in done.stdout
    assert "Traceback" not in done.stderr
    assert "Exception ignored" not in done.stderr
