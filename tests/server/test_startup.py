"""What `omnicart serve` refuses to start on: a PostgreSQL schema that is not current."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.databases import PostgresDatabases
from tests.support.server import ServerProcess

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def test_server_refuses_unmigrated_postgres(
    postgres_databases: PostgresDatabases, catalog_file: Path, tmp_path: Path
) -> None:
    """On a PostgreSQL database without the schema, `omnicart serve` exits and tells to run `omnicart migrate`."""
    server = ServerProcess(postgres_databases.new_unmigrated(), tmp_path / "unmigrated.log", catalog=catalog_file)
    server.start(wait=False)
    assert server.wait_exit(timeout=30) != 0, server.log_tail()
    assert "omnicart migrate" in server.log_text(), server.log_tail()
