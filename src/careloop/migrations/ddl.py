"""The DDL every revision repeats, written once: a table with its keys and indexes, its removal.

Frozen like :mod:`careloop.migrations.columns`: a revision must build the same schema whatever
the models become, so these helpers are only ever extended, never changed. Constraint and
index names are spelled in full, as the models' naming convention spells them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from alembic import op

from careloop.migrations.columns import ID, JSON, utc


@dataclass(frozen=True)
class Index:
    """An index; unnamed, it is ``ix_<table>_<columns>`` like the models' single-column ones."""

    columns: tuple[str, ...]
    name: str | None = None
    unique: bool = False
    where: str | None = None
    """A partial index, on both dialects."""


def index(
    *columns: str, name: str | None = None, unique: bool = False, where: str | None = None
) -> Index:
    return Index(columns, name, unique, where)


def indexed(*columns: str) -> tuple[Index, ...]:
    """One plain index on each column."""
    return tuple(index(column) for column in columns)


@dataclass(frozen=True)
class Ref:
    """A foreign key from one column to ``table.column``."""

    column: str
    target: str
    ondelete: str = "CASCADE"


PATIENT = Ref("patient_id", "patients.id")
"""The patient a row belongs to, gone with the patient."""


_TYPES: dict[str, Callable[[], sa.types.TypeEngine[Any]]] = {
    "text": sa.Text,
    "int": sa.Integer,
    "bigint": sa.BigInteger,
    "bool": sa.Boolean,
    "date": sa.Date,
    "float": sa.Float,
    "utc": utc,
    "json": lambda: JSON,
    "id": lambda: ID,
}
_COLUMN = re.compile(
    r"(?P<name>[a-z_][a-z0-9_]*) (?P<type>str(?P<length>[0-9]+)|[a-z]+)(?P<null>\??)"
)


def columns(*specs: str) -> list[sa.Column[Any]]:
    """Plain columns from ``"name type"`` specs, comma-separated, in order.

    A revision's column list is data, not code: ``"kind str16, note text?, at utc"`` is
    ``String(length=16)``, ``Text``, a UTC timestamp; ``?`` makes a column nullable. The
    types are those of :data:`_TYPES` and ``str<length>``. Anything else (keys, defaults,
    inline foreign keys) is an explicit ``sa.Column``.
    """
    built: list[sa.Column[Any]] = []
    for spec in specs:
        for part in spec.split(","):
            match = _COLUMN.fullmatch(part.strip())
            if match is None or (not match["length"] and match["type"] not in _TYPES):
                raise ValueError(f"not a column spec: {part.strip()!r}")
            type_ = (
                sa.String(length=int(match["length"]))
                if match["length"]
                else _TYPES[match["type"]]()
            )
            built.append(sa.Column(match["name"], type_, nullable=bool(match["null"])))
    return built


def surrogate_id(type_: sa.types.TypeEngine[int] = ID) -> sa.Column[int]:
    """The ``id`` column of a table keyed by a generated number."""
    return sa.Column("id", type_, autoincrement=True, nullable=False)


def patient_column() -> sa.Column[str]:
    """``patient_id`` with its foreign key inline, as the hand-written revisions declare it."""
    return sa.Column(
        "patient_id",
        sa.String(64),
        sa.ForeignKey("patients.id", ondelete="CASCADE"),
        nullable=False,
    )


def create_table(
    name: str,
    *columns: sa.schema.SchemaItem,
    key: Sequence[str] = ("id",),
    refs: Sequence[Ref] = (),
    unique: Sequence[str | Index] = (),
    indexes: Sequence[Index] = (),
) -> None:
    """Create ``name`` and then its indexes.

    Constraints come after ``columns`` (which may hold check constraints) in the order
    Alembic's autogenerate wrote them: foreign keys, primary key, unique constraints.
    """
    constraints: list[sa.schema.SchemaItem] = [
        sa.ForeignKeyConstraint(
            [ref.column],
            [ref.target],
            name=op.f(f"fk_{name}_{ref.column}_{ref.target.split('.')[0]}"),
            ondelete=ref.ondelete,
        )
        for ref in refs
    ]
    if key:
        constraints.append(sa.PrimaryKeyConstraint(*key, name=op.f(f"pk_{name}")))
    for item in unique:
        spec = index(item) if isinstance(item, str) else item
        constraints.append(
            sa.UniqueConstraint(
                *spec.columns, name=op.f(spec.name or f"uq_{name}_{'_'.join(spec.columns)}")
            )
        )
    op.create_table(name, *columns, *constraints)
    create_indexes(name, *indexes)


def create_indexes(table: str, *indexes: Index) -> None:
    for spec in indexes:
        where = None if spec.where is None else sa.text(spec.where)
        op.create_index(
            op.f(spec.name or f"ix_{table}_{'_'.join(spec.columns)}"),
            table,
            list(spec.columns),
            unique=spec.unique,
            postgresql_where=where,
            sqlite_where=where,
        )


def drop_tables(*names: str) -> None:
    """Drop tables in the order given (dependents first); their indexes go with them."""
    for name in names:
        op.drop_table(name)


def add_columns(table: str, *columns: sa.Column[Any]) -> None:
    with op.batch_alter_table(table) as batch:
        for column in columns:
            batch.add_column(column)


def drop_columns(table: str, *names: str) -> None:
    with op.batch_alter_table(table) as batch:
        for name in names:
            batch.drop_column(name)
