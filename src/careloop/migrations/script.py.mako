"""${message}"""

import sqlalchemy as sa
from alembic import op

from careloop.migrations.columns import ID, JSON, utc

${imports if imports else ""}
revision = ${repr(up_revision)}
down_revision = ${repr(down_revision)}


def upgrade() -> None:
    ${upgrades if upgrades else "pass"}


def downgrade() -> None:
    ${downgrades if downgrades else "pass"}
