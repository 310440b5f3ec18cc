"""The import's parsers run at a lower priority than its writer.

The writer and its database backend are the import's chain; the parsers run ahead of it. At
equal priority they took the chain's core from it while both ran (see ``PARSER_NICENESS``).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from careloop.clock import FrozenClock
from careloop.db import make_engine, make_sessionmaker, migrate
from careloop.records import importer
from careloop.records.importer import PreparedUnit, import_paths
from careloop.security.principal import CLI_OPERATOR
from tests.conftest import START
from tests.records.conftest import synthea_dir

_prepare_json_file = importer.prepare_json_file


def _prepare_noting_priority(path: str, keep_unsupported: bool = True) -> PreparedUnit:
    """The parser's own step, and the niceness of the process it ran in (as a skipped
    count, which the summary carries back)."""
    unit = _prepare_json_file(path, keep_unsupported)
    unit.skipped[f"niceness {os.nice(0)}"] += 1
    return unit


def test_the_parsers_yield_the_cores_to_the_writer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "bundles"
    folder.mkdir()
    for path in sorted(synthea_dir().glob("*.json"))[:6]:  # more than 4: a pool of parsers
        shutil.copy(path, folder / path.name)
    # The parser processes are forked after this: they run the patched step.
    monkeypatch.setattr(importer, "prepare_json_file", _prepare_noting_priority)
    engine = make_engine(f"sqlite:///{tmp_path / 'import.db'}")
    try:
        migrate(engine)
        summary = import_paths(
            make_sessionmaker(engine),
            engine=engine,
            paths=[folder],
            clock=FrozenClock(START),
            principal=CLI_OPERATOR,
            default_timezone="UTC",
            workers=2,
        )
    finally:
        engine.dispose()

    writer = os.nice(0)
    assert summary.rejected == []
    assert len(summary.patients) == 6
    assert sum(summary.skipped.values()) == 6  # every unit was parsed in a parser process
    parsers = {int(noted.split()[1]) for noted in summary.skipped}
    assert min(parsers) > writer
    assert parsers == {writer + importer.PARSER_NICENESS}
    assert importer.PARSER_NICENESS > 0
