"""The programs page's engine comparisons read only the comparison, not the whole state.

A program's stored state is its posterior (megabytes at population scale); the page shows only
``state["comparison"]``. What the page shows must be exactly what was stored, on both backends.
"""

from __future__ import annotations

from careloop.models import ModelStateRow
from careloop.personalize.serving import stored_comparisons
from careloop.runtime import Runtime

COMPARISON = {
    "candidate": "joint-ts/7",
    "difference": -0.0125,
    "ci95": [-0.04, 0.0151],
    "promoted": False,
    "evidence": None,
    "arms": {"sms": {"n": 120, "rate": 0.41}},
}


def test_the_comparison_shown_is_the_stored_one_and_programs_without_one_are_left_out(
    rt: Runtime,
) -> None:
    posterior = {"means": [[0.1] * 200] * 50, "comparison": COMPARISON}
    with rt.transaction() as session:
        session.add(
            ModelStateRow(
                program="colorectal", state=posterior, version="v1", updated_at=rt.clock.now()
            )
        )
        session.add(
            ModelStateRow(
                program="flu", state={"means": [0.2]}, version="v1", updated_at=rt.clock.now()
            )
        )
        session.add(
            ModelStateRow(
                program="wellness",
                state={"comparison": {}},
                version="v1",
                updated_at=rt.clock.now(),
            )
        )
    with rt.transaction() as session:
        assert stored_comparisons(session) == {"colorectal": COMPARISON}
