"""Writes sent along with an event: kept with it or not at all, and on PostgreSQL one statement with it.

Each test runs on both writers (the SQLite group commit, PostgreSQL's row locks) over a real database.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from asyncpg.connection import LoggedQuery
from sqlalchemy import event, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import Pool

from omnicart.protocol.cart import AddItem, CartOpsRequest
from omnicart.protocol.sessions import CreateSession
from omnicart_server.config import Settings
from omnicart_server.context import ServerContext
from omnicart_server.db import idempotency
from omnicart_server.db.driver import named_values
from omnicart_server.db.migrate import upgrade_to_head
from omnicart_server.db.models import customers, events, idempotency_keys
from omnicart_server.db.writer import Along, Writer, WriteTxn, create_writer
from tests.support.databases import Databases
from tests.unit.test_asyncpg_statements import a_thing as thing_row
from tests.unit.test_driver_statements import INSERT, metadata, things

ON_POSTGRESQL = pytest.mark.parametrize(
    "databases", [pytest.param("postgres_databases", id="postgres", marks=pytest.mark.postgres)], indirect=True
)
CUSTOMER = "cus_along"
ANSWER = idempotency.StoredResponse(200, b'{"ok":true}')


def a_thing(thing: str) -> Along:
    return Along(INSERT, thing_row(thing))


@pytest.fixture
async def database(databases: Databases) -> AsyncIterator[AsyncEngine]:
    """A migrated database with a `things` table beside the schema, and one customer whose log is empty."""
    url = databases.new()
    if databases.backend == "sqlite":
        await asyncio.to_thread(upgrade_to_head, url)  # Alembic runs a loop of its own
    engine = create_async_engine(url)
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
        await connection.execute(
            insert(customers).values(id=CUSTOMER, created_at=func.now(), head_seq=0, epoch="e1", pruned_seq=0)
        )
    yield engine
    await engine.dispose()


@pytest.fixture
async def writer(database: AsyncEngine) -> AsyncIterator[Writer]:
    writer = create_writer(database, database.url.render_as_string(hide_password=False))
    await writer.start()
    yield writer
    await writer.stop()


async def append_with(txn: WriteTxn, along: list[Along]) -> int:
    await txn.lock_customer(CUSTOMER)
    appended = await txn.append_event(CUSTOMER, "test.appended", {"n": 1}, session_id=None, channel=None, along=along)
    return appended.seq


async def what_was_kept(engine: AsyncEngine) -> dict[str, Any]:
    async with engine.connect() as connection:
        return {
            "head": (await connection.execute(select(customers.c.head_seq))).scalar_one(),
            "events": (await connection.execute(select(events.c.seq, events.c.kind))).all(),
            "things": (await connection.execute(select(things.c.id).order_by(things.c.id))).scalars().all(),
            "answers": (await connection.execute(select(idempotency_keys.c.key, idempotency_keys.c.response))).all(),
        }


async def test_an_event_and_the_writes_along_it_are_kept_together(writer: Writer, database: AsyncEngine) -> None:
    async def work(txn: WriteTxn) -> int:
        answer = idempotency.response_write(CUSTOMER, "key-1", "f" * 64, ANSWER, txn.now)
        return await append_with(txn, [a_thing("a"), answer])

    assert await writer.run(work) == 1
    kept = await what_was_kept(database)
    assert kept["head"] == 1
    assert [tuple(row) for row in kept["events"]] == [(1, "test.appended")]
    assert kept["things"] == ["a"]
    assert [tuple(row) for row in kept["answers"]] == [("key-1", ANSWER.body)]


async def test_a_write_along_that_fails_keeps_neither_it_nor_the_event(writer: Writer, database: AsyncEngine) -> None:
    """The second write breaks the things' primary key: the answer, the event and the head bump all go with it."""

    async def first(txn: WriteTxn) -> int:
        return await append_with(txn, [a_thing("a")])

    async def clashing(txn: WriteTxn) -> int:
        answer = idempotency.response_write(CUSTOMER, "key-2", "f" * 64, ANSWER, txn.now)
        return await append_with(txn, [answer, a_thing("a")])

    await writer.run(first)
    with pytest.raises(IntegrityError):
        await writer.run(clashing)
    kept = await what_was_kept(database)
    assert kept["head"] == 1
    assert [tuple(row) for row in kept["events"]] == [(1, "test.appended")]
    assert kept["things"] == ["a"]
    assert kept["answers"] == []


class QueryLog:
    """The first word of each statement asyncpg sent, per connection, from connections opened after it started."""

    def __init__(self) -> None:
        self.by_connection: dict[int, list[str]] = {}

    def attach(self, dbapi_connection: Any, _record: Any) -> None:
        sent = self.by_connection.setdefault(id(dbapi_connection), [])
        dbapi_connection.driver_connection.add_query_logger(lambda record: sent.append(_first_word(record)))

    def units_with(self, word: str) -> list[list[str]]:
        """Each transaction that sent a statement starting with `word`, BEGIN to its COMMIT or ROLLBACK (if sent)."""
        units = []
        for sent in self.by_connection.values():
            for begin in (n for n, first in enumerate(sent) if first == "BEGIN"):
                end = next((n for n in range(begin, len(sent)) if sent[n] in ("COMMIT", "ROLLBACK")), len(sent))
                if word in sent[begin:end]:
                    units.append(sent[begin : end + 1])
        return units


@pytest.fixture
async def query_log(database: AsyncEngine) -> AsyncIterator[QueryLog]:
    log = QueryLog()
    await database.dispose()  # the pool's next connections are new ones, which the listener sees connect
    event.listen(Pool, "connect", log.attach)
    yield log
    event.remove(Pool, "connect", log.attach)


@ON_POSTGRESQL
async def test_on_postgresql_the_event_and_its_writes_are_one_statement(
    writer: Writer, database: AsyncEngine, query_log: QueryLog
) -> None:
    """BEGIN, the customer's row lock, the event with both writes, COMMIT: four round trips, not six."""

    async def work(txn: WriteTxn) -> int:
        answer = idempotency.response_write(CUSTOMER, "key-1", "f" * 64, ANSWER, txn.now)
        return await append_with(txn, [a_thing("a"), answer])

    await writer.run(work)
    assert list(query_log.by_connection.values()) == [["BEGIN", "SELECT", "WITH", "COMMIT"]]
    assert (await what_was_kept(database))["things"] == ["a"]


@ON_POSTGRESQL
async def test_a_parameter_named_twice_in_one_append_is_refused(
    writer: Writer, database: AsyncEngine, query_log: QueryLog
) -> None:
    """Two writes naming the same parameter would both get one value: refused before the append is sent."""

    async def work(txn: WriteTxn) -> int:
        return await append_with(txn, [a_thing("a"), a_thing("b")])

    with pytest.raises(ValueError, match="named twice"):
        await writer.run(work)
    assert list(query_log.by_connection.values()) == [["BEGIN", "SELECT", "ROLLBACK"]]
    kept = await what_was_kept(database)
    assert (kept["head"], kept["things"]) == (0, [])


@ON_POSTGRESQL
async def test_a_statement_built_per_call_is_refused(writer: Writer) -> None:
    """Each new statement would be one more entry in the caches of combined and compiled statements, for good."""

    async def work(txn: WriteTxn) -> int:
        built_now = insert(things).values(named_values(things, "id", "count", "seen_at", "hidden", "blob"))
        return await append_with(txn, [Along(built_now, a_thing("a").parameters)])

    with pytest.raises(ValueError, match="not a prepared statement"):
        await writer.run(work)


@ON_POSTGRESQL
async def test_a_cart_write_sends_its_cart_and_stored_answer_with_its_event(
    databases: Databases, query_log: QueryLog
) -> None:
    """A cart batch with an Idempotency-Key, through the server's own services: BEGIN, lock, read, one WITH, COMMIT."""
    ctx = ServerContext.build(Settings(db_url=databases.new(), dev=True))
    await ctx.start()
    try:
        opened = await ctx.sessions.open(CreateSession(channel="web", device="laptop"))
        device = await ctx.sessions.authenticate(opened.session_token)
        add = CartOpsRequest(ops=[AddItem(sku="JACKET-RAIN")])
        written = await ctx.carts.apply(device, add, "key-1")
        replayed = await ctx.carts.apply(device, add, "key-1")
    finally:
        await ctx.stop()
    assert replayed == (written[0], True)
    # opening the session writes an event too, with no cart; the replay reads its stored answer and writes nothing
    cart_writes = [unit for unit in query_log.units_with("WITH") if unit.count("SELECT") == 2]
    assert cart_writes == [["BEGIN", "SELECT", "SELECT", "WITH", "COMMIT"]]


def _first_word(record: LoggedQuery) -> str:
    return record.query.split(None, 1)[0].upper()
