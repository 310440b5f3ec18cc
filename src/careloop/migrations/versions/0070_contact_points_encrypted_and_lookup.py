"""contact points encrypted at rest, with a keyed-digest look-up table"""

import hashlib
import hmac
import re

import orjson
import sqlalchemy as sa
from alembic import op

# Floor only (the key ring and settings), never a domain module.
from careloop.crypto import active_keyring, configured_signing_key
from careloop.migrations import ddl
from careloop.settings import get_settings

revision = "0070"
down_revision = "0060"


def upgrade() -> None:
    ddl.create_table(
        "contact_lookup",
        ddl.surrogate_id(sa.Integer()),
        *ddl.columns("digest str64, patient_id str64, caregiver_id str128?, system str16"),
        refs=(ddl.PATIENT,),
        indexes=ddl.indexed("digest", "patient_id"),
    )
    bind = op.get_bind()
    for table in ("patients", "caregivers"):
        if bind.dialect.name == "postgresql":
            op.execute(
                f"ALTER TABLE {table} ALTER COLUMN contact_points TYPE text "
                "USING contact_points::text"
            )
        else:
            with op.batch_alter_table(table) as batch:
                batch.alter_column("contact_points", type_=sa.Text(), existing_nullable=False)
    _encrypt_and_index(bind)


# Frozen copy of the contact digest as of this revision (``records.contacts``): a migration
# must keep meaning what it meant when it ran, whatever the live code becomes.
_FALLBACK_KEY = b"careloop-contact-lookup"


def _digest(key: bytes, system: str, value: str) -> str | None:
    if system in ("phone", "sms"):
        digits = re.sub(r"\D", "", value)
        if len(digits) == 11 and digits.startswith("1"):
            digits = digits[1:]
        canonical = f"phone:{digits}" if digits else None
    elif system == "email":
        address = value.strip().lower()
        canonical = f"email:{address}" if "@" in address else None
    else:
        canonical = None
    if canonical is None:
        return None
    return hmac.new(key, canonical.encode(), hashlib.sha256).hexdigest()


def _encrypt_and_index(bind: sa.engine.Connection) -> None:
    """Encrypt stored contact points (when a key is configured) and fill the look-up."""
    ring = active_keyring()
    key = configured_signing_key(get_settings()) or _FALLBACK_KEY
    for table, owner in (("patients", "id"), ("caregivers", "patient_id")):
        rows = bind.execute(sa.text(f"SELECT id, {owner}, contact_points FROM {table}")).all()
        for row_id, patient_id, stored in rows:
            points = orjson.loads(ring.decrypt(stored)) if stored else []
            bind.execute(
                sa.text(f"UPDATE {table} SET contact_points = :value WHERE id = :id"),
                {"value": ring.encrypt(orjson.dumps(points).decode()), "id": row_id},
            )
            for point in points:
                hashed = _digest(key, str(point.get("system")), str(point.get("value") or ""))
                if hashed:
                    bind.execute(
                        sa.text(
                            "INSERT INTO contact_lookup (digest, patient_id, caregiver_id, system)"
                            " VALUES (:d, :p, :c, :s)"
                        ),
                        {
                            "d": hashed,
                            "p": patient_id,
                            "c": row_id if table == "caregivers" else None,
                            "s": str(point.get("system")),
                        },
                    )


def downgrade() -> None:
    ddl.drop_tables("contact_lookup")
