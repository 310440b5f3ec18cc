"""Re-encrypt every encrypted column under the newest key, so an old key can be dropped.

Rotation of ``security.encryption_key``: put the new key first (``NEW,OLD``), run
``careloop keys re-encrypt``, then remove ``OLD``. Every column of type
:class:`~careloop.crypto.EncryptedText` or :class:`~careloop.crypto.EncryptedJSON` in any
table is found from the models' metadata, so a new encrypted column is covered without a
change here. Values stored in plain text (written before any key was set) are encrypted on
the way. Rows are read and written as raw text, one table and column at a time.
"""

from __future__ import annotations

from sqlalchemy import Column, Table, Text, bindparam, select, type_coerce, update
from sqlalchemy.orm import Session

from careloop.crypto import EncryptedJSON, EncryptedText, KeyRing
from careloop.models import Base

BATCH = 500


def encrypted_columns() -> list[tuple[Table, Column[object]]]:
    """Every (table, column) whose values are encrypted at rest."""
    found = []
    for table in Base.metadata.sorted_tables:
        for column in table.columns:
            if isinstance(column.type, EncryptedText | EncryptedJSON):
                found.append((table, column))
    return found


def reencrypt(session: Session, *, ring: KeyRing) -> dict[str, int]:
    """Rewrite every encrypted value under ``ring``'s first key; values per ``table.column``.

    Raises :class:`~careloop.crypto.EncryptionKeyError` if a value opens under none of the
    ring's keys (nothing is written for that value: the old key is still needed).
    """
    counts: dict[str, int] = {}
    for table, column in encrypted_columns():
        keys = list(table.primary_key.columns)
        raw = type_coerce(column, Text)
        statement = (
            update(table)
            .where(*(key == bindparam(f"pk_{key.name}") for key in keys))
            .values({column.name: bindparam("new_value", type_=Text)})
        )
        rows = session.execute(select(*keys, raw).where(column.is_not(None))).all()
        done = 0
        for start in range(0, len(rows), BATCH):
            params = [
                {
                    **{f"pk_{key.name}": row[i] for i, key in enumerate(keys)},
                    "new_value": ring.rotate(row[-1]),
                }
                for row in rows[start : start + BATCH]
            ]
            session.connection().execute(statement, params)
            done += len(params)
        counts[f"{table.name}.{column.name}"] = done
    session.flush()
    return counts
