"""Facts not shipped with their rows: the types a night reads by their columns alone.

A night's fact read (``records.projection.SharedFacts``) returned every kept row's ``fact``
JSON, ~43 kB of text a patient at 5,000 Synthea patients, yet the retrieves decode about one
row in eight: most rows are only looked up by code, or refused on their status and timing
columns (``programs.measures.row_tests``). Encounters (half the rows) are decoded about once
in fifty; Observations, CarePlans, allergies not at all on a first night. Turning ``jsonb``
into text and shipping it was a third of the read's server CPU and of its client CPU
(docs/benchmarks.md, nt).

So a process keeps a :class:`FactTally`: for each type, how many rows it read and how many of
them were decoded. It is seeded on a sample of patients before the first slice
(:func:`seeding`, every fact shipped and counted); afterwards the facts of the types decoded
less than :data:`DEFER_BELOW` of the time are left out of the read (NULL in their place), and
such a row that is decoded after all (:class:`DeferredFactRow`) fetches its fact by primary key
at that moment, in the reading transaction, and is counted, so a type that turns out to be
read after all is shipped again from the next batch. The facts are the same text either way:
only when they travel changes.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import Connection, Text, any_, bindparam, case, null, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.sql.elements import ColumnElement

from careloop.models import ResourceFact
from careloop.records.fact_columns import FactRow
from careloop.records.fact_queries import FACT_TEXT

log = logging.getLogger("careloop.records.projection_defer")

DEFER_BELOW = 0.05
"""A type's facts are deferred when fewer than this share of its rows read are decoded: a
deferred row decoded costs a round trip (~0.1 ms of both sides), a row shipped ~7 us."""
MIN_ROWS = 50
"""Rows of a type read before its share decides (fewer: always shipped)."""
SEED_PATIENTS = 100
"""Patients a process evaluates every program on, before its first slice, to seed the tally."""

_ONE_FACT = text(
    "SELECT fact::text FROM resource_fact_bodies WHERE resource_type = :rtype "
    "AND fhir_id = :fhir_id"
)


@dataclass
class FactTally:
    """Rows read and rows decoded per type, in this process (counts only, no patient data)."""

    read: dict[str, int] = field(default_factory=dict)
    decoded: dict[str, int] = field(default_factory=dict)
    seeded: bool = False
    learning: bool = False

    def deferred(self) -> list[str]:
        """The types whose facts the next read leaves out (none until seeded)."""
        if not self.seeded or self.learning:
            return []
        decoded = self.decoded
        return sorted(
            rtype
            for rtype, rows in self.read.items()
            if rows >= MIN_ROWS and decoded.get(rtype, 0) < DEFER_BELOW * rows
        )

    def count_read(self, rtype: str) -> None:
        self.read[rtype] = self.read.get(rtype, 0) + 1

    def count_decoded(self, rtype: str) -> None:
        self.decoded[rtype] = self.decoded.get(rtype, 0) + 1


TALLY = FactTally()


@contextmanager
def seeding(tally: FactTally = TALLY) -> Iterator[None]:
    """Within: every fact is shipped and each row read and decoded is counted. After: the
    tally is seeded (also when the sample raised: then nothing is deferred before it learns
    from later reads, which still count deferred rows)."""
    tally.learning = True
    try:
        yield
    finally:
        tally.learning = False
        tally.seeded = True


def fact_column(deferring: bool) -> ColumnElement[Any]:
    """The fact as text, or NULL for the rows of the types in parameter ``deferred`` (their
    bodies are not read at all)."""
    fact = FACT_TEXT
    if not deferring:
        return fact.label("fact")
    kind = ResourceFact.__table__.c.resource_type
    deferred = any_(bindparam("deferred", type_=ARRAY(Text)))
    return case((kind == deferred, null()), else_=fact).label("fact")


def deferred_params() -> dict[str, Any]:
    """Parameters of :func:`fact_column`: PostgreSQL's ``= ANY`` over the deferred types."""
    return {"deferred": TALLY.deferred()}


class TalliedFactRow(FactRow):
    """A row read while seeding: counts its first decoding."""

    __slots__ = ()

    @property
    def fact(self) -> dict[str, Any]:
        if self._fact is None:
            TALLY.count_decoded(self.rtype)
        return FactRow.fact.fget(self)  # type: ignore[attr-defined,no-any-return]


class DeferredFactRow(FactRow):
    """A row read without its fact: fetched by primary key when first decoded, and counted.

    Made as a :class:`FactRow` whose text is its FHIR id (its own constructor would cost a
    call more a row, ~170,000 rows a night at 5,000 patients), then given the connection
    of the transaction that read it (``connection``, set by the reader)."""

    __slots__ = ("connection",)
    connection: Connection

    @property
    def fact(self) -> dict[str, Any]:
        fact = self._fact
        if fact is None:
            TALLY.count_decoded(self.rtype)
            found = self.connection.execute(
                _ONE_FACT, {"rtype": self.rtype, "fhir_id": self._text}
            ).scalar_one_or_none()
            if found is None:
                # Deleted since the read (an erasure, retention): a slice holds its rows for
                # minutes, and this fetch reads what is committed now. The resource is gone,
                # as a record read now would say: a fact no filter keeps, not an error that
                # ends the slice and the night (its type only in the log, no patient data).
                log.warning("a %s fact read for this slice was deleted before use", self.rtype)
                fact = self._fact = {"resourceType": self.rtype, "id": self._text}
            else:
                fact = self._fact = orjson.loads(found)
            self._text = None
            del self.connection
        return fact
