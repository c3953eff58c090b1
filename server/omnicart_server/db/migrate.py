"""Schema migrations: apply them, and tell whether a database is at the newest revision."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(db_url: str) -> Config:
    """An Alembic config built in code, so no alembic.ini has to sit in the working directory."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", db_url.replace("%", "%%"))
    return config


def upgrade_to_head(db_url: str) -> None:
    """Apply every pending migration; must run outside an event loop (Alembic's env starts its own)."""
    command.upgrade(alembic_config(db_url), "head")


def head_revision() -> str | None:
    return ScriptDirectory(str(MIGRATIONS)).get_current_head()


def current_revision(connection: Connection) -> str | None:
    """The revision the database is at (None when it was never migrated); run through `AsyncConnection.run_sync`."""
    return MigrationContext.configure(connection).get_current_revision()
