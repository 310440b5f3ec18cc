"""The benchmark's population copies only the whole resources a first night reads."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event

from careloop.compose.nightly import run_nightly
from careloop.runtime import Runtime
from tests.feedback.test_feedback_latency_client import _load
from tests.ops.test_nightly import NIGHT, _population


def test_a_first_night_reads_whole_resources_only_of_the_types_the_population_copies(
    rt: Runtime,
) -> None:
    """``benchmarks/nightly.py`` copies into ``fhir_resources`` only ``NIGHT_RECORD_TYPES``
    (a full copy of 100,000 patients would need ~65 GB); a night that read another type
    would be timed on a population missing what it reads."""
    _population(rt)
    read: list[set[str]] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "fhir_resources" in statement:
            context = args[1]
            read.append(
                {
                    str(value)
                    for params in context.compiled_parameters
                    for name, value in params.items()
                    if "resource_type" in name
                }
            )

    event.listen(rt.engine, "before_cursor_execute", record)
    try:
        report = run_nightly(rt, database="", now=NIGHT)
    finally:
        event.remove(rt.engine, "before_cursor_execute", record)

    assert report.enqueued > 0
    assert read  # the Patient (interpreter need) is read whole
    assert all(types and types <= set(_load("nightly").NIGHT_RECORD_TYPES) for types in read)
