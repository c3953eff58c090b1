"""Prepared statements run on asyncpg read and write what SQLAlchemy would, inside the right transaction.

A real PostgreSQL (tests.support.databases); the table and statements are those of the sqlite3 driver's tests.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

import asyncpg
import pytest
from sqlalchemy import func, select, text
from sqlalchemy import update as update_
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.sql.base import Executable

from omnicart_server.db.driver import AsyncpgStatements, prepared
from omnicart_server.db.executor import AsyncpgConnection, asyncpg_of
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


async def test_a_write_runs_its_prepared_statements_on_the_driver_inside_its_transaction(engine: AsyncEngine) -> None:
    """The first goes through SQLAlchemy (which sends BEGIN with it), the rest on the driver, all in the transaction.

    Rolled back, nothing stays: none of them ran on its own.
    """
    statements = CountedStatements(engine.dialect)
    async with engine.connect() as connection:
        transaction = await connection.begin()
        write = AsyncpgConnection(connection, await asyncpg_of(connection), statements)
        await write.execute(INSERT, a_thing("a"))
        assert statements.runs == 0
        await write.execute(INSERT, a_thing("b"))
        assert (await write.execute(BUMP, {"thing": "b"})).scalar_one() == 2
        assert statements.runs == 2
        await transaction.rollback()
    assert await count_of_things(engine) == 0
