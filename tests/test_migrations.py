"""The schema built by the migrations is exactly the one the models describe."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

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


def test_every_column_is_as_nullable_as_its_model_says(rt: Runtime) -> None:
    """Alembic's comparison passes over generated columns' nullability; this does not."""
    built = inspect(rt.engine)
    tables = Base.metadata.sorted_tables
    in_database = {
        (table.name, column["name"]): column["nullable"]
        for table in tables
        for column in built.get_columns(table.name)
    }
    in_models = {(t.name, c.name): c.nullable for t in tables for c in t.columns}
    assert in_database == in_models


def test_the_migrations_form_one_line() -> None:
    """Branches merged side by side must be re-chained: two heads cannot be downgraded in order."""
    from alembic.script import ScriptDirectory

    from careloop.db import alembic_config

    scripts = ScriptDirectory.from_config(alembic_config("sqlite://"))
    assert len(scripts.get_heads()) == 1, scripts.get_heads()
    assert len(scripts.get_bases()) == 1


def test_column_specs_build_the_columns_a_revision_spelled_out() -> None:
    """The compact specs are frozen: each must stay the column it replaced."""
    import sqlalchemy as sa

    from careloop.migrations import ddl
    from careloop.migrations.columns import ID, JSON

    built = ddl.columns("kind str16, note text?", "at utc?, payload json, n id, ok bool")
    assert [(c.name, c.nullable) for c in built] == [
        ("kind", False),
        ("note", True),
        ("at", True),
        ("payload", False),
        ("n", False),
        ("ok", False),
    ]
    assert isinstance(built[0].type, sa.String)
    assert built[0].type.length == 16
    assert isinstance(built[1].type, sa.Text)
    assert built[2].type.timezone is True
    assert built[3].type is JSON
    assert built[4].type is ID
    assert isinstance(built[5].type, sa.Boolean)


def test_a_column_spec_it_does_not_know_is_refused_by_name() -> None:
    import pytest

    from careloop.migrations import ddl

    with pytest.raises(ValueError, match="'note blob'"):
        ddl.columns("kind str16, note blob")
    with pytest.raises(ValueError, match="'Kind str16'"):
        ddl.columns("Kind str16")
