"""Fixtures of the unit tests that run the database layer on a real SQLite file."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from omnicart_server.db.migrate import upgrade_to_head


@pytest.fixture
def db_file(tmp_path: Path) -> Path:
    """A migrated SQLite file in WAL mode, as the server's first connection leaves it."""
    path = tmp_path / "omnicart.db"
    upgrade_to_head(f"sqlite+aiosqlite:///{path}")
    with sqlite3.connect(path) as wal:
        wal.execute("PRAGMA journal_mode=WAL")
    return path
