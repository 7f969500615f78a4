"""The migrations build exactly the schema the models describe, on SQLite and PostgreSQL, and go back down."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

import portal.models  # noqa: F401  (every table on Base.metadata)
from portal import migrate
from portal.db import Base


def test_migrated_schema_matches_the_models(database_url):
    engine = create_engine(database_url)
    try:
        migrate.upgrade(engine)
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            differences = compare_metadata(context, Base.metadata)
        assert differences == [], "models and migrations disagree; write a migration"
        assert migrate.current_revision(engine) == migrate.head_revision()
    finally:
        engine.dispose()


def test_every_migration_goes_down_and_up_again(database_url):
    engine = create_engine(database_url)
    try:
        migrate.upgrade(engine)
        config = migrate.alembic_config(engine.url.render_as_string(hide_password=False))
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "base")
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        migrate.upgrade(engine)
        assert "monitor_systems" in inspect(engine).get_table_names()
    finally:
        engine.dispose()
