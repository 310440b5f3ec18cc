"""An import keeps the heap it started with out of the garbage collector's way only while it
runs: a long-lived process (the API's demo and pilot imports) collects as before afterwards."""

from __future__ import annotations

import gc

from careloop.records.importer import import_paths
from careloop.runtime import Runtime
from careloop.security.principal import CLI_OPERATOR
from tests.conftest import FIXTURES


def test_after_an_import_every_object_is_collectable_again(rt: Runtime) -> None:
    summary = import_paths(
        rt.sessions,
        engine=rt.engine,
        paths=[FIXTURES / "fhir" / "good_bundle.json"],
        clock=rt.clock,
        principal=CLI_OPERATOR,
        default_timezone="UTC",
        workers=0,
    )

    assert summary.read_anything
    assert gc.get_freeze_count() == 0
    assert gc.isenabled()
