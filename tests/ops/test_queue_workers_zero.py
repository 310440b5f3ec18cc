"""``careloop nightly --queue --workers 0`` must be refused like ``--workers 0`` without --queue.

Since ntn, --workers is passed to the queued night task (slices balanced over the workers):
the deferral accepted 0, printed "queued as task N", and the night task then failed with
ZeroDivisionError in slice_count: no slice was queued, no patient ran that night."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from careloop.cli import app
from careloop.content.library import load_library
from careloop.content.service import sync_library
from tests.ops.test_queue import _runtime

pytestmark = pytest.mark.postgres
runner = CliRunner()


def test_a_queued_night_refuses_zero_workers(empty_postgresql_url: str) -> None:
    rt = _runtime(empty_postgresql_url)
    try:
        with rt.transaction() as session:
            sync_library(session, library=load_library(None), clock=rt.clock)
    finally:
        rt.engine.dispose()
    result = runner.invoke(
        app, ["nightly", "--queue", "--workers", "0", "--database", empty_postgresql_url]
    )
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert "workers" in result.stderr
