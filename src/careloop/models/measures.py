"""Published measure packages loaded with ``careloop measure load``.

A package row holds the Measure resource and the names of the libraries and value sets it
uses; libraries (ELM JSON and CQL text, as published) and value-set expansions are stored
once and shared by every measure that includes them (FHIRHelpers, QICoreCommon...).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from careloop.models.base import Base
from careloop.models.types import JSONType, SerialId, UTCDateTime


class MeasurePackageRow(Base):
    __tablename__ = "measure_packages"

    id: Mapped[SerialId]
    name: Mapped[str] = mapped_column(String(200))
    version: Mapped[str] = mapped_column(String(64), default="")
    cms_id: Mapped[str | None] = mapped_column(String(32), index=True)
    title: Mapped[str] = mapped_column(String(500))
    measure: Mapped[dict[str, Any]] = mapped_column(JSONType)
    libraries: Mapped[list[list[str]]] = mapped_column(JSONType)
    valuesets: Mapped[list[str]] = mapped_column(JSONType)
    loaded_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (UniqueConstraint("name", "version"),)


class MeasureLibraryRow(Base):
    __tablename__ = "measure_libraries"

    id: Mapped[SerialId]
    name: Mapped[str] = mapped_column(String(200))
    version: Mapped[str] = mapped_column(String(64), default="")
    url: Mapped[str | None] = mapped_column(String(500))
    elm: Mapped[dict[str, Any]] = mapped_column(JSONType)
    cql: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (UniqueConstraint("name", "version"),)


class MeasureValueSetRow(Base):
    __tablename__ = "measure_valuesets"

    id: Mapped[SerialId]
    key: Mapped[str] = mapped_column(String(500), unique=True)
    url: Mapped[str] = mapped_column(String(500))
    codes: Mapped[list[list[str]]] = mapped_column(JSONType)
