"""The schema built by the migrations is exactly the one the models describe."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from careloop.migrations.names import include_name
from careloop.models import Base
from careloop.runtime import Runtime


def test_migrations_and_models_agree(rt: Runtime) -> None:
    with rt.engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={"compare_type": False, "include_name": include_name},
        )
        differences = compare_metadata(context, Base.metadata)
    assert differences == []


def test_the_migrations_form_one_line() -> None:
    """Branches merged side by side must be re-chained: two heads cannot be downgraded in order."""
    from alembic.script import ScriptDirectory

    from careloop.db import alembic_config

    scripts = ScriptDirectory.from_config(alembic_config("sqlite://"))
    assert len(scripts.get_heads()) == 1, scripts.get_heads()
    assert len(scripts.get_bases()) == 1
