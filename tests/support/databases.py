"""Throwaway databases for test servers: SQLite files in a temp dir, PostgreSQL databases created and dropped."""

from __future__ import annotations

import asyncio
import itertools
import os
import secrets
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from tests.support.server import run_omnicart

DEFAULT_PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"
"""Where tests create their databases; override with OMNICART_TEST_PG_URL (any existing database of the cluster)."""


def pg_admin_url() -> str:
    return os.environ.get("OMNICART_TEST_PG_URL", DEFAULT_PG_ADMIN_URL)


class Databases(Protocol):
    """Hands out fresh, ready-to-serve database URLs of one backend."""

    backend: str

    def new(self) -> str: ...

    def close(self) -> None: ...


class SqliteDatabases:
    """Each database is a new file; the server applies migrations itself on start."""

    backend = "sqlite"

    def __init__(self, directory: Path) -> None:
        self._directory = directory
        self._counter = itertools.count(1)

    def new(self) -> str:
        path = self._directory / f"omnicart-{next(self._counter)}.db"
        return f"sqlite+aiosqlite:///{path}"

    def close(self) -> None:
        """The files go with pytest's temp dir."""


class PostgresDatabases:
    """Each database is `omnicart_test_<run>_<n>`, migrated with `omnicart migrate`; all are dropped on close."""

    backend = "postgres"

    def __init__(self, admin_url: str) -> None:
        self._admin_url = admin_url
        self._prefix = f"omnicart_test_{secrets.token_hex(4)}"
        self._counter = itertools.count(1)
        self._created: list[str] = []

    def new(self) -> str:
        name = f"{self._prefix}_{next(self._counter)}"
        self._run(f'CREATE DATABASE "{name}"')
        self._created.append(name)
        url = self.server_url(name)
        try:
            run_omnicart(["migrate", "--db", url])
        except subprocess.TimeoutExpired as exc:
            raise RuntimeError(
                f"omnicart migrate of {name} timed out; PostgreSQL was doing:\n{self._activity()}"
            ) from exc
        return url

    def server_url(self, name: str) -> str:
        """The SQLAlchemy URL of database `name` on the admin URL's server."""
        parts = urlsplit(self._admin_url)
        return urlunsplit(("postgresql+asyncpg", parts.netloc, f"/{name}", "", ""))

    def new_unmigrated(self) -> str:
        """A fresh database with no schema at all."""
        name = f"{self._prefix}_{next(self._counter)}"
        self._run(f'CREATE DATABASE "{name}"')
        self._created.append(name)
        return self.server_url(name)

    def close(self) -> None:
        # FORCE ends connections a killed server may have left behind (PostgreSQL 13+).
        for name in reversed(self._created):
            self._run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self._created.clear()

    def _run(self, statement: str) -> None:
        # A thread of its own, so this also works when called from an async test (a loop is running here).
        with ThreadPoolExecutor(max_workers=1) as pool:
            pool.submit(lambda: asyncio.run(self._execute(statement))).result()

    def _activity(self) -> str:
        """Every backend's state, wait and query, and every lock not granted: why a migration hangs."""

        async def read() -> str:
            connection = await asyncpg.connect(self._admin_url, timeout=5)
            try:
                backends = await connection.fetch(
                    "SELECT pid, datname, state, wait_event_type, wait_event, left(query, 120) AS query"
                    " FROM pg_stat_activity ORDER BY datname NULLS FIRST, pid"
                )
                waiting = await connection.fetch(
                    "SELECT pid, locktype, relation::regclass, mode FROM pg_locks WHERE NOT granted"
                )
            finally:
                await connection.close()
            return "\n".join(
                [*(str(dict(row)) for row in backends), "locks not granted:", *(str(dict(row)) for row in waiting)]
            )

        with ThreadPoolExecutor(max_workers=1) as pool:
            return pool.submit(lambda: asyncio.run(read())).result()

    async def _execute(self, statement: str) -> None:
        connection = await asyncpg.connect(self._admin_url, timeout=5)
        try:
            await connection.execute(statement)
        finally:
            await connection.close()


def postgres_unavailable_reason(admin_url: str) -> str | None:
    """None when PostgreSQL answers at `admin_url`, else why not."""

    async def probe() -> None:
        connection = await asyncpg.connect(admin_url, timeout=3)
        await connection.close()

    try:
        with ThreadPoolExecutor(max_workers=1) as pool:
            pool.submit(lambda: asyncio.run(probe())).result()
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        return f"PostgreSQL not reachable at {admin_url}: {exc!r}"
    return None
