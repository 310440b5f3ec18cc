"""The identification projection: what measures and programs read, one compact row a resource.

Written beside ``fhir_resources`` by the one resource writer (``records.store``), so the
nightly run reads small rows filtered in the database instead of decoding every stored
resource. Deleting a resource (erasure, retention) deletes its row by a trigger on
``fhir_resources`` (migration 0570): a foreign key checked and locked each fact's resource as
it was inserted, which its writers already guarantee (they write a fact with its resource).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Float, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from careloop.models.base import Base
from careloop.models.types import JSONType, UTCDateTime


class ResourceFact(Base):
    """A resource as the measure engine reads it: FHIR shape, without the fields it never reads.

    ``codes`` holds the bare codes of the resource (space-separated, those of
    ``fhir_resources.codes`` without their systems) so a program's code filter runs in the
    database next to the patient filter. The typed columns hold what measures read of most
    facts, so a reader needs no decoding for them (``records.fact_columns``);
    ``columns_version`` says they are computed (NULL: a fact stored before they existed,
    not yet filled in by ``records.fact_backfill``; read the fact instead). The fact's JSON
    is its :class:`ResourceFactBody` (same key): a night reads every row of its patients and
    ships the JSON of a few, so the rows it reads stay narrow (migration 0640).
    """

    __tablename__ = "resource_facts"

    resource_type: Mapped[str] = mapped_column(String(64), primary_key=True)
    fhir_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    patient_id: Mapped[str | None] = mapped_column(String(64))
    codes: Mapped[str] = mapped_column(Text, default="")
    code_pairs: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str | None] = mapped_column(String(64))
    start_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    end_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    value_num: Mapped[float | None] = mapped_column(Float)
    value_unit: Mapped[str | None] = mapped_column(String(64))
    category_pairs: Mapped[str | None] = mapped_column(Text)
    columns_version: Mapped[int | None] = mapped_column(Integer)

    __table_args__ = (
        # No foreign key to fhir_resources: its deletion is followed by a trigger (0570).
        Index("ix_resource_facts_patient_type", "patient_id", "resource_type"),
    )


class ResourceFactBody(Base):
    """A fact's JSON: the resource in FHIR shape without the fields identification never
    reads (``records.projection.fact_of``). Written with its :class:`ResourceFact` row in the
    same transaction; deleted with its resource by the same triggers (0570, 0640)."""

    __tablename__ = "resource_fact_bodies"

    resource_type: Mapped[str] = mapped_column(String(64), primary_key=True)
    fhir_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    fact: Mapped[dict[str, Any]] = mapped_column(JSONType)


class FactColumnsBackfill(Base):
    """Where the background backfill of the typed columns stands, per version of their rules:
    the last fact key done (keyset order), the rows filled in, when it found none left."""

    __tablename__ = "fact_columns_backfill"

    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    after_type: Mapped[str] = mapped_column(String(64))
    after_id: Mapped[str] = mapped_column(String(128))
    rows_done: Mapped[int] = mapped_column(BigInteger)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
