"""The migrations build exactly the schema the models describe, on SQLite and PostgreSQL, and go back down."""

from __future__ import annotations

from datetime import UTC

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


def test_adapters_registered_before_the_lifecycle_stay_live(database_url):
    """0007: an adapter saved before approvals existed was in force; it stays live, its older versions approved."""
    from datetime import datetime

    from sqlalchemy import text

    engine = create_engine(database_url)
    try:
        migrate.upgrade(engine, "0006")
        now = datetime.now(UTC)
        with engine.begin() as connection:
            connection.execute(text(
                "INSERT INTO stored_adapters (id, owner, document, version, created_at, updated_at, updated_by) "
                "VALUES ('points2', 'marketing-team', '{}', 2, :now, :now, 'mkt')"), {"now": now})
            for version in (1, 2):
                connection.execute(text(
                    "INSERT INTO adapter_versions (adapter_id, version, change, document, changed_by, changed_at) "
                    "VALUES ('points2', :v, 'update', '{}', 'mkt', :now)"), {"v": version, "now": now})
            connection.execute(text("UPDATE roles SET permissions = '[\"users.manage\"]' WHERE name = 'admin'"))
        migrate.upgrade(engine)
        with engine.connect() as connection:
            assert connection.execute(text("SELECT live_version FROM stored_adapters")).scalar() == 2
            states = dict(connection.execute(text("SELECT version, state FROM adapter_versions")).all())
            assert states == {1: "approved", 2: "live"}
            permissions = connection.execute(text("SELECT permissions FROM roles WHERE name = 'admin'")).scalar()
            assert "adapters.approve" in str(permissions)
    finally:
        engine.dispose()
