"""The schema built by the migrations is exactly the one the models describe."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from careloop.models import Base
from careloop.runtime import Runtime


def test_migrations_and_models_agree(rt: Runtime) -> None:
    with rt.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": False})
        differences = compare_metadata(context, Base.metadata)
    assert differences == []
