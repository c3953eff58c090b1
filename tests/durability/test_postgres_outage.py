"""PostgreSQL crashes under a running server, which answers a clear 503 and serves again once it is back.

Nothing acknowledged is lost, and the server needs no restart of its own. Each test runs a private PostgreSQL
cluster (tests/support/postgres_cluster.py), never the machine's shared one.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from tests.conftest import unavailable
from tests.support.catalog import SKUS
from tests.support.devices import add_item, describe, new_device
from tests.support.postgres_cluster import PrivatePostgres, unavailable_reason
from tests.support.problems import assert_problem
from tests.support.server import ServerProcess, run_omnicart, track_server

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

DATABASE = "omnicart"
ACKNOWLEDGED = 5


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    """A PostgreSQL cluster of this test's own, with a migrated database DATABASE."""
    reason = unavailable_reason()
    if reason is not None:
        unavailable(f"{reason}: the PostgreSQL outage tests crash a private cluster")
    cluster = PrivatePostgres().init().start()
    try:

        async def create() -> None:
            connection = await asyncpg.connect(cluster.admin_url(), timeout=10)
            try:
                await connection.execute(f'CREATE DATABASE "{DATABASE}"')
            finally:
                await connection.close()

        asyncio.run(create())
        run_omnicart(["migrate", "--db", cluster.url(DATABASE)])
        yield cluster
    finally:
        cluster.remove()


@pytest.fixture
def outage_server(
    private_postgres: PrivatePostgres, catalog_file: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[ServerProcess]:
    server = ServerProcess(private_postgres.url(DATABASE), tmp_path / "server.log", catalog=catalog_file)
    track_server(request, server)
    server.start()
    yield server
    server.stop()


def test_a_postgresql_crash_answers_503_then_serves_again_with_every_acknowledged_write(
    private_postgres: PrivatePostgres, outage_server: ServerProcess
) -> None:
    """Acknowledged writes survive; the outage answers 503 `not_ready`, never 500; the retry then applies once.

    During the outage reads, writes and /ready answer a problem 503 and change nothing; after recovery the same
    server, not restarted, applies the write retried with its Idempotency-Key exactly once.
    """
    with new_device(outage_server) as shopper:
        for _ in range(ACKNOWLEDGED):
            shopper.add(SKUS[0])

        private_postgres.crash()
        body = {"ops": [add_item(SKUS[0])]}
        write = shopper.post_ops(body, idempotency_key="retried-across-the-outage")
        assert_problem(write, 503, "not_ready")
        assert write.headers.get("Retry-After"), describe(write)
        assert_problem(shopper.client.get("/v1/cart"), 503, "not_ready")
        assert_problem(httpx.get(f"{outage_server.url}/ready", timeout=30), 503, "not_ready")
        assert httpx.get(f"{outage_server.url}/health").status_code == 200, "the process itself stays up"

        private_postgres.start()
        retried = shopper.post_ops(body, idempotency_key="retried-across-the-outage")
        assert retried.status_code == 200, describe(retried)
        again = shopper.post_ops(body, idempotency_key="retried-across-the-outage")
        assert again.headers.get("Idempotent-Replayed") == "true", describe(again)

        cart = shopper.cart()
        assert [(line["sku"], line["qty"]) for line in cart["lines"]] == [(SKUS[0], ACKNOWLEDGED + 1)]
        events = shopper.all_events()
        assert [event["seq"] for event in events] == list(range(1, len(events) + 1)), "the log has a gap"
        assert Counter(event["kind"] for event in events)["cart.updated"] == ACKNOWLEDGED + 1
        assert httpx.get(f"{outage_server.url}/ready", timeout=30).status_code == 200
        assert outage_server.alive()


def test_the_first_requests_after_a_quick_postgresql_restart_succeed(
    private_postgres: PrivatePostgres, outage_server: ServerProcess
) -> None:
    """A restart that no request saw leaves every pooled connection dead; the pool must not hand one out.

    With no request in between to find them broken, the first write and read after the restart would each fail
    on a dead connection unless the pool replaces them at checkout.
    """
    with new_device(outage_server) as shopper:
        shopper.add(SKUS[0])
        private_postgres.crash()
        private_postgres.start()
        after = shopper.post_ops({"ops": [add_item(SKUS[1])]})
        assert after.status_code == 200, describe(after)
        assert {line["sku"]: line["qty"] for line in shopper.cart()["lines"]} == {SKUS[0]: 1, SKUS[1]: 1}
