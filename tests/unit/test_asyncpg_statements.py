"""Prepared statements run on asyncpg read and write what SQLAlchemy would, inside the driver's own transaction.

A real PostgreSQL (tests.support.databases); the table and statements are those of the sqlite3 driver's tests.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

import asyncpg
import pytest
from sqlalchemy import func, insert, select, text
from sqlalchemy import update as update_
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.sql.base import Executable

from omnicart_server.config import Settings
from omnicart_server.db.driver import AsyncpgStatements, prepared
from omnicart_server.db.engine import create_engines
from omnicart_server.db.executor import AsyncpgConnection, UnitRolledBack, asyncpg_of, driver_transaction
from omnicart_server.db.reader import PooledReader
from tests.support.databases import PostgresDatabases
from tests.support.stream import wait_until
from tests.unit.test_driver_statements import AT, BUMP, BY_ID, INSERT, metadata, things

pytestmark = pytest.mark.postgres
HIDE = prepared(update_(things).values(hidden=True))


def a_thing(thing: str, **values: Any) -> dict[str, Any]:
    return {"id": thing, "count": 1, "seen_at": None, "hidden": False, "blob": b"", **values}


@pytest.fixture
async def engine(postgres_databases: PostgresDatabases) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(postgres_databases.new_unmigrated())
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    yield engine
    await engine.dispose()


@pytest.fixture
async def pool_of_one(engine: AsyncEngine) -> AsyncIterator[AsyncEngine]:
    """The same database through a pool of one connection: each user gets what the last one gave back."""
    one = create_async_engine(engine.url, pool_size=1, max_overflow=0)
    yield one
    await one.dispose()


async def count_of_things(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        counted: int = (await connection.execute(select(func.count()).select_from(things))).scalar_one()
        return counted


async def test_rows_written_on_asyncpg_read_back_the_same_through_sqlalchemy(engine: AsyncEngine) -> None:
    statements = AsyncpgStatements(engine.dialect)
    async with engine.connect() as connection:
        driver = await asyncpg_of(connection)
        await statements.run(driver, INSERT, a_thing("a", seen_at=AT, hidden=True, blob=b"\x00\x01"))
        on_driver = (await statements.run(driver, BY_ID, {"id": "a"})).one()
        through_sqlalchemy = (await connection.execute(BY_ID, {"id": "a"})).one()
    assert tuple(on_driver) == tuple(through_sqlalchemy) == ("a", 1, AT, True, b"\x00\x01")
    assert on_driver.seen_at.tzinfo is not None


async def test_returning_rows_and_counts_of_rows_touched(engine: AsyncEngine) -> None:
    """RETURNING gives the new value, a missing row gives None, and a statement without rows says how many changed."""
    statements = AsyncpgStatements(engine.dialect)
    async with engine.connect() as connection:
        driver = await asyncpg_of(connection)
        for thing in ("a", "b", "c"):
            await statements.run(driver, INSERT, a_thing(thing))
        assert (await statements.run(driver, BUMP, {"thing": "a"})).scalar_one() == 2
        assert (await statements.run(driver, BUMP, {"thing": "nobody"})).scalar_one_or_none() is None
        assert (await statements.run(driver, HIDE, {})).rowcount == 3


async def test_driver_errors_are_sqlalchemy_errors(engine: AsyncEngine) -> None:
    statements = AsyncpgStatements(engine.dialect)
    async with engine.connect() as connection:
        driver = await asyncpg_of(connection)
        await statements.run(driver, INSERT, a_thing("a"))
        with pytest.raises(IntegrityError):
            await statements.run(driver, INSERT, a_thing("a"))


async def test_a_lost_connection_is_reported_as_invalidated(engine: AsyncEngine) -> None:
    """So the error handlers answer 503 (problems.py)."""
    statements = AsyncpgStatements(engine.dialect)
    async with engine.connect() as connection:
        driver = await asyncpg_of(connection)
        async with engine.connect() as other:
            await other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": driver.get_server_pid()})
            await other.commit()
        await wait_until(driver.is_closed, 10, message="the driver to see its backend gone")
        with pytest.raises(DBAPIError) as raised:
            await statements.run(driver, BY_ID, {"id": "a"})
        await connection.invalidate()
    assert raised.value.connection_invalidated


class CountedStatements(AsyncpgStatements):
    """Counts the statements that ran on the driver, not through SQLAlchemy."""

    runs = 0

    async def run(self, driver: asyncpg.Connection, statement: Executable, parameters: Mapping[str, Any]) -> Any:
        self.runs += 1
        return await super().run(driver, statement, parameters)


class Abandoned(Exception):
    """Raised inside a transaction to end it with an error."""


def autocommit(engine: AsyncEngine) -> AsyncEngine:
    return engine.execution_options(isolation_level="AUTOCOMMIT")


async def write_a_and_b(write: AsyncpgConnection) -> None:
    """Thing a on the driver, thing b through SQLAlchemy, then b bumped on the driver: it sees b, one transaction."""
    await write.execute(INSERT, a_thing("a"))
    await write.execute(insert(things), a_thing("b"))  # not prepared: through SQLAlchemy, on the same connection
    assert (await write.execute(BUMP, {"thing": "b"})).scalar_one() == 2


async def test_a_unit_runs_every_prepared_statement_on_the_driver_and_commits_with_the_rest(
    engine: AsyncEngine,
) -> None:
    statements = CountedStatements(engine.dialect)
    async with autocommit(engine).connect() as connection, driver_transaction(connection, statements) as write:
        await write_a_and_b(write)
    assert statements.runs == 2
    async with engine.connect() as connection:
        rows = (await connection.execute(select(things.c.id, things.c.count).order_by(things.c.id))).all()
    assert [tuple(row) for row in rows] == [("a", 1), ("b", 2)]


async def test_an_error_in_the_unit_rolls_back_what_both_paths_wrote(engine: AsyncEngine) -> None:
    statements = AsyncpgStatements(engine.dialect)
    with pytest.raises(Abandoned):
        async with autocommit(engine).connect() as connection, driver_transaction(connection, statements) as write:
            await write_a_and_b(write)
            raise Abandoned
    assert await count_of_things(engine) == 0


async def test_a_savepoint_inside_rolls_back_alone(engine: AsyncEngine) -> None:
    statements = AsyncpgStatements(engine.dialect)
    async with autocommit(engine).connect() as connection, driver_transaction(connection, statements) as write:
        await write.execute(INSERT, a_thing("a"))
        with pytest.raises(IntegrityError):
            async with write.begin_nested():
                await write.execute(INSERT, a_thing("b"))
                await write.execute(INSERT, a_thing("a"))
        await write.execute(INSERT, a_thing("c"))
    async with engine.connect() as connection:
        ids = (await connection.execute(select(things.c.id).order_by(things.c.id))).scalars().all()
    assert ids == ["a", "c"]


async def test_the_connection_goes_back_to_the_pool_outside_any_transaction(pool_of_one: AsyncEngine) -> None:
    """The next user of the connection after each ending finds no transaction open."""
    one = pool_of_one
    statements = AsyncpgStatements(one.dialect)
    async with autocommit(one).connect() as connection, driver_transaction(connection, statements) as write:
        await write.execute(INSERT, a_thing("a"))
    with pytest.raises(IntegrityError):
        async with autocommit(one).connect() as connection, driver_transaction(connection, statements) as write:
            await write.execute(INSERT, a_thing("a"))
    async with one.connect() as connection:
        assert not (await asyncpg_of(connection)).is_in_transaction()
        assert (await connection.execute(select(func.count()).select_from(things))).scalar_one() == 1


class CancelledDuringBegin(AsyncpgStatements):
    """Cancels the unit while its BEGIN is on the wire, as a server stopping or a timeout would."""

    async def control(self, driver: asyncpg.Connection, sql: str) -> str:
        if sql != "BEGIN":
            return await super().control(driver, sql)
        begin = asyncio.ensure_future(super().control(driver, sql))
        await asyncio.sleep(0)  # the BEGIN task sends and waits for the answer
        begin.cancel()
        return await begin


async def test_after_a_unit_cancelled_at_begin_the_next_unit_on_its_connection_commits(
    pool_of_one: AsyncEngine,
) -> None:
    """The cancelled unit's connection must not come back with a transaction half-begun."""
    one = pool_of_one
    with pytest.raises(asyncio.CancelledError):
        async with (
            autocommit(one).connect() as connection,
            driver_transaction(connection, CancelledDuringBegin(one.dialect)) as write,
        ):
            await write.execute(INSERT, a_thing("never"))
    statements = AsyncpgStatements(one.dialect)
    async with autocommit(one).connect() as connection, driver_transaction(connection, statements) as write:
        await write.execute(INSERT, a_thing("a"))
    async with one.connect() as connection:
        ids = (await connection.execute(select(things.c.id))).scalars().all()
    assert ids == ["a"]


async def lose(driver: asyncpg.Connection, engine: AsyncEngine) -> None:
    """End the driver's backend from another connection, and wait until the driver knows."""
    async with engine.connect() as other:
        await other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": driver.get_server_pid()})
        await other.commit()
    await wait_until(driver.is_closed, 10, message="the driver to see its backend gone")


async def go_on_after_a_failed_statement(
    write: AsyncpgConnection, _connection: AsyncConnection, _engine: AsyncEngine
) -> None:
    """PostgreSQL answers the COMMIT of such a transaction with ROLLBACK."""
    with pytest.raises(IntegrityError):
        await write.execute(INSERT, a_thing("a"))


async def roll_back_itself(write: AsyncpgConnection, _connection: AsyncConnection, _engine: AsyncEngine) -> None:
    """A COMMIT outside a transaction is answered COMMIT too: what came after the ROLLBACK must not count."""
    await write.execute(text("ROLLBACK"))


async def lose_the_connection(_write: AsyncpgConnection, connection: AsyncConnection, engine: AsyncEngine) -> None:
    """COMMIT then fails as a lost connection (answered 503)."""
    await lose(await asyncpg_of(connection), engine)


async def lose_the_connection_and_fail(
    _write: AsyncpgConnection, connection: AsyncConnection, engine: AsyncEngine
) -> None:
    """The unit's own error wins over the ROLLBACK that cannot reach the database."""
    await lose(await asyncpg_of(connection), engine)
    raise Abandoned


@pytest.mark.parametrize(
    ("unit", "raised", "invalidated"),
    [
        (go_on_after_a_failed_statement, UnitRolledBack, False),
        (roll_back_itself, UnitRolledBack, False),
        (lose_the_connection, DBAPIError, True),
        (lose_the_connection_and_fail, Abandoned, True),
    ],
)
async def test_a_unit_that_cannot_commit_is_not_acknowledged_and_keeps_nothing(
    engine: AsyncEngine,
    unit: Callable[[AsyncpgConnection, AsyncConnection, AsyncEngine], Awaitable[None]],
    raised: type[Exception],
    invalidated: bool,
) -> None:
    statements = AsyncpgStatements(engine.dialect)
    async with autocommit(engine).connect() as connection:
        with pytest.raises(raised) as error:
            async with driver_transaction(connection, statements) as write:
                await write.execute(INSERT, a_thing("a"))
                await unit(write, connection, engine)
        assert connection.invalidated is invalidated
    if isinstance(error.value, DBAPIError):
        assert error.value.connection_invalidated
    assert await count_of_things(engine) == 0


async def test_a_point_read_after_its_pooled_connection_was_lost_reads_on_a_new_one(engine: AsyncEngine) -> None:
    """The server's pool (of one here) hands the reader's raw connection out again only while it is open."""
    async with engine.begin() as connection:
        await connection.execute(insert(things), a_thing("a"))
    pooled, _ = create_engines(Settings(db_url=engine.url.render_as_string(hide_password=False), db_pool_size=1))
    reader = PooledReader(pooled)
    try:
        assert (await reader.one_or_none(BY_ID, {"id": "a"})) is not None
        raw = await pooled.raw_connection()
        driver = raw.driver_connection
        raw.close()
        await lose(driver, engine)
        row = await reader.one_or_none(BY_ID, {"id": "a"})
        assert row is not None and row.id == "a"
        raw = await pooled.raw_connection()
        assert raw.driver_connection is not driver
        raw.close()
    finally:
        await pooled.dispose()
