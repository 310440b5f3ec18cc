"""A compiled retrieve that decodes a fact only when its columns cannot refuse it.

``measures.criteria`` compiles a retrieve (type, codes, filters) into a
:class:`CompiledRetrieve`; this module holds it so the language module stays its size.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from careloop.programs.measures.row_tests import RowTest
from careloop.programs.measures.valuesets import CodeSet
from careloop.records.fact_columns import FactRow

if TYPE_CHECKING:
    from careloop.programs.measures.criteria import Context

Resource = dict[str, Any]
Filter = Callable[[Resource, "Context"], bool]
WindowOf = Callable[["Context"], tuple[float, float]]
"""A timing filter's window for a Context, as POSIX seconds (for row tests)."""


class CompiledRetrieve:
    """A compiled retrieve: its type's resources (by ``codes`` if any), kept by ``filters``.

    On a record that reads fact rows (``measures.shared_record``), a row the columns show
    no filter could keep (``row_tests``: status, timing) is dropped before its fact is
    decoded; ``exists`` asks :meth:`any`, which decodes candidates one at a time and stops at
    the first kept. Both answer exactly what the filters answer on every decoded candidate.
    """

    __slots__ = ("codes", "exact", "filters", "rtype", "status_tests", "timing_tests")

    def __init__(
        self,
        rtype: str,
        codes: CodeSet,
        filters: list[Filter],
        status_tests: list[Callable[[FactRow], bool]],
        timing_tests: list[tuple[RowTest, WindowOf]],
        *,
        exact: bool = False,
    ) -> None:
        self.rtype = rtype
        # The status tests are the filters (``criteria``: status alone, on a type whose
        # column is the resource's status): a timed row they keep is kept, undecoded.
        self.exact = exact
        self.codes = codes
        self.filters = filters
        self.status_tests = status_tests
        self.timing_tests = timing_tests

    def filtered(
        self, test: Filter, row_test: RowTest | None, window_of: WindowOf
    ) -> CompiledRetrieve:
        """This retrieve with one more (timing) filter after its own, and the row test that
        refuses what the filter surely refuses (None: none)."""
        timing = [*self.timing_tests, (row_test, window_of)] if row_test else self.timing_tests
        return CompiledRetrieve(
            self.rtype, self.codes, [*self.filters, test], self.status_tests, list(timing)
        )

    def __call__(self, ctx: Context) -> list[Resource]:
        rows = None
        if self.status_tests or self.timing_tests:
            rows = ctx.record.candidate_rows(self.rtype, self.codes)
        if rows is not None:
            candidates = [row.fact for row in self._may_keep(rows, ctx)]
        elif self.codes:
            candidates = ctx.record.retrieve(self.rtype, self.codes)
        else:
            candidates = ctx.record.of_type(self.rtype)
        if not candidates:
            return candidates
        # One filter at a time over the survivors of the ones before: each filter is called
        # for exactly the resources it was called for one resource at a time (all earlier
        # filters passed), without a generator per resource; the order is kept.
        kept = list(candidates)
        for test in self.filters:
            kept = [r for r in kept if test(r, ctx)]
            if not kept:
                break
        return kept

    def any(self, ctx: Context) -> bool:
        """``bool(self(ctx))``, deciding (and decoding) one candidate at a time."""
        rows = ctx.record.candidate_rows(self.rtype, self.codes)
        if rows is None:
            return bool(self(ctx))
        if not rows:  # most retrieves of most patients: no row of their codes
            return False
        filters = self.filters
        candidates = self._may_keep(rows, ctx)
        if self.exact and any(row.timed for row in candidates):
            return True
        for row in candidates:
            resource = row.fact
            for test in filters:
                if not test(resource, ctx):
                    break
            else:
                return True
        return False

    def _may_keep(self, rows: list[FactRow], ctx: Context) -> list[FactRow]:
        """The rows no row test refuses, in order."""
        if not rows:
            return rows
        for status_test in self.status_tests:
            rows = [row for row in rows if status_test(row)]
        for row_test, window_of in self.timing_tests:
            low, high = window_of(ctx)
            rows = [row for row in rows if row_test(row, low, high)]
        return rows
