"""measure packages: published Measure, Library (ELM) and ValueSet expansions"""

import sqlalchemy as sa

from careloop.migrations import ddl

revision = "0080"
down_revision = "0070"


def upgrade() -> None:
    ddl.create_table(
        "measure_packages",
        ddl.surrogate_id(sa.Integer()),
        *ddl.columns(
            "name str200, version str64, cms_id str32?, title str500, measure json, libraries json",
            "valuesets json, loaded_at utc",
        ),
        unique=(ddl.index("name", "version"),),
        indexes=(ddl.index("cms_id"),),
    )
    ddl.create_table(
        "measure_libraries",
        ddl.surrogate_id(sa.Integer()),
        *ddl.columns("name str200, version str64, url str500?, elm json, cql text?"),
        unique=(ddl.index("name", "version"),),
    )
    ddl.create_table(
        "measure_valuesets",
        ddl.surrogate_id(sa.Integer()),
        *ddl.columns("key str500, url str500, codes json"),
        unique=("key",),
    )


def downgrade() -> None:
    ddl.drop_tables("measure_valuesets", "measure_libraries", "measure_packages")
