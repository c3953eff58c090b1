"""When every PostgreSQL connection of a process stays busy, a request waits a bounded time, then gets a clear 503.

A real server with a pool of one connection; a session of the test's own holds a customer's row lock, so the one
write that reached the database waits on it with the connection while a second write waits for the connection.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import asyncpg
import pytest

from tests.support.catalog import SKUS
from tests.support.databases import PostgresDatabases
from tests.support.devices import add_item, new_device
from tests.support.problems import assert_problem
from tests.support.server import ServerProcess, track_server
from tests.support.wait import wait_for

pytestmark = pytest.mark.postgres


@pytest.fixture
def one_connection_server(
    postgres_databases: PostgresDatabases, catalog_file: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[ServerProcess]:
    # Background jobs would take the one connection too; hourly, they stay out of the way.
    env = {
        "OMNICART_DB_POOL_SIZE": "1",
        "OMNICART_DB_POOL_TIMEOUT_SECONDS": "1",
        "OMNICART_JOBS_INTERVAL_SECONDS": "3600",
    }
    server = ServerProcess(postgres_databases.new(), tmp_path / "server.log", env=env, catalog=catalog_file)
    track_server(request, server)
    server.start()
    yield server
    server.stop()


class RowLock:
    """A transaction of the test's own that holds one customer's row, and sees who waits for it."""

    def __init__(self, db_url: str, customer_id: str) -> None:
        self._url = db_url.replace("postgresql+asyncpg://", "postgresql://")
        self._customer_id = customer_id
        self._loop = asyncio.new_event_loop()
        self._connection: asyncpg.Connection | None = None

    def __enter__(self) -> RowLock:
        async def take() -> asyncpg.Connection:
            connection = await asyncpg.connect(self._url, timeout=10)
            await connection.execute("BEGIN")
            await connection.execute("SELECT 1 FROM customers WHERE id = $1 FOR UPDATE", self._customer_id)
            return connection

        self._connection = self._loop.run_until_complete(take())
        return self

    def waiters(self) -> int:
        """Backends of this database waiting for a lock: the server's write that holds its one connection."""
        assert self._connection is not None
        query = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        count: int = self._loop.run_until_complete(self._connection.fetchval(query))
        return count

    def release(self) -> None:
        if self._connection is not None:
            self._loop.run_until_complete(self._connection.close())  # ends the transaction: the lock goes
            self._connection = None

    def __exit__(self, *exc_info: object) -> None:
        self.release()
        self._loop.close()


def test_a_request_that_finds_no_free_connection_gets_503_and_its_retry_applies_once(
    one_connection_server: ServerProcess,
) -> None:
    """The 503 changes nothing; the write that held the connection completes once the lock goes."""
    body = {"ops": [add_item(SKUS[1])]}
    with new_device(one_connection_server) as held, new_device(one_connection_server) as waiting:
        held.add(SKUS[0])
        waiting.add(SKUS[0])
        with RowLock(one_connection_server.db_url, held.customer_id) as lock, ThreadPoolExecutor(1) as pool:
            blocked = pool.submit(held.post_ops, {"ops": [add_item(SKUS[1])]})
            wait_for(lock.waiters, 10, message="the server's write to wait for the row lock")
            refused = waiting.post_ops(body, idempotency_key="waited-for-a-connection")
            lock.release()
            assert blocked.result(timeout=30).status_code == 200
        problem = assert_problem(refused, 503, "not_ready")
        assert refused.headers["retry-after"] == "1"
        assert "busy" in problem["detail"]
        assert [line["sku"] for line in waiting.cart()["lines"]] == [SKUS[0]]
        assert waiting.post_ops(body, idempotency_key="waited-for-a-connection").status_code == 200
        assert {line["sku"]: line["qty"] for line in waiting.cart()["lines"]} == {SKUS[0]: 1, SKUS[1]: 1}
        assert {line["sku"] for line in held.cart()["lines"]} == {SKUS[0], SKUS[1]}
