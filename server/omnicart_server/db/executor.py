"""What the write paths ask of a connection, and the inline form the SQLite writer gives them.

On SQLite the single writer runs statements on a plain (sync) connection, inline on the event loop: a statement on
a local file takes tens of microseconds, while a hop to aiosqlite's thread per statement capped the writer at a few
hundred writes a second (BENCHMARKS.md). Only BEGIN IMMEDIATE (which may wait for another process) and COMMIT (the
fsync) leave the loop. Statements marked `prepared` skip SQLAlchemy's execution machinery too (db/driver.py).
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager, suppress
from typing import TYPE_CHECKING, Any, Protocol

from omnicart_server.db.driver import AsyncpgStatements, DriverStatements, Rows, is_prepared

if TYPE_CHECKING:
    from types import TracebackType

    import asyncpg
    from sqlalchemy.engine import Connection
    from sqlalchemy.ext.asyncio import AsyncConnection
    from sqlalchemy.sql.base import Executable

_EMPTY: Mapping[str, Any] = {}


class Executor(Protocol):
    """A connection inside a transaction: a writer's InlineConnection or AsyncpgConnection, or an AsyncConnection."""

    async def execute(self, statement: Executable, parameters: Mapping[str, Any] | None = None, /) -> Rows: ...

    def begin_nested(self) -> AbstractAsyncContextManager[Any]: ...


def driver_of(connection: Connection) -> sqlite3.Connection:
    driver = connection.connection.driver_connection
    assert isinstance(driver, sqlite3.Connection)
    return driver


class InlineConnection:
    """A sync connection behind the async interface: `await execute(...)` runs the statement at once."""

    def __init__(self, connection: Connection, statements: DriverStatements) -> None:
        self._connection = connection
        self._driver = driver_of(connection)
        self._statements = statements

    async def execute(self, statement: Executable, parameters: Mapping[str, Any] | None = None, /) -> Rows:
        if is_prepared(statement):
            return self._statements.run(self._driver, statement, parameters or _EMPTY)
        return self._connection.execute(statement, parameters)

    @asynccontextmanager
    async def _savepoint(self) -> AsyncIterator[None]:
        with self._connection.begin_nested():
            yield

    def begin_nested(self) -> AbstractAsyncContextManager[None]:
        return self._savepoint()

    def unit(self) -> _Unit:
        """One unit of a group commit, in a SAVEPOINT of its own: a unit that fails is rolled back alone.

        The SAVEPOINT goes straight to the driver: SQLAlchemy's bookkeeping for it cost a tenth of each write, and
        nothing else in the group needs to know of it. A plain context manager: its statements are sync, and the
        unit's awaits run inside `with` just as well.
        """
        return _Unit(self._driver)


class _Unit:
    """The SAVEPOINT of `InlineConnection.unit` (a class: a generator-based context manager cost twice as much)."""

    __slots__ = ("_driver",)

    def __init__(self, driver: sqlite3.Connection) -> None:
        self._driver = driver

    def __enter__(self) -> None:
        self._driver.execute("SAVEPOINT unit")

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if kind is not None:
            self._driver.execute("ROLLBACK TO unit")
        self._driver.execute("RELEASE unit")


async def asyncpg_of(connection: AsyncConnection) -> asyncpg.Connection:
    driver: asyncpg.Connection = (await connection.get_raw_connection()).driver_connection
    return driver


class AsyncpgConnection:
    """PostgreSQL: a connection in a transaction begun on asyncpg itself (`driver_transaction`).

    Prepared statements run on asyncpg; any other goes through SQLAlchemy on the same connection, which is in
    AUTOCOMMIT mode so that SQLAlchemy's adapter sends no BEGIN or COMMIT of its own: the statement runs inside the
    driver's transaction like the rest.
    """

    def __init__(self, connection: AsyncConnection, driver: asyncpg.Connection, statements: AsyncpgStatements) -> None:
        self._connection = connection
        self._driver = driver
        self._statements = statements

    async def execute(self, statement: Executable, parameters: Mapping[str, Any] | None = None, /) -> Rows:
        if is_prepared(statement):
            return await self._statements.run(self._driver, statement, parameters or _EMPTY)
        return await self._connection.execute(statement, parameters)

    def begin_nested(self) -> AbstractAsyncContextManager[Any]:
        return self._connection.begin_nested()


class UnitRolledBack(Exception):
    """A unit's transaction did not commit, and the unit went on regardless.

    A statement of it failed (PostgreSQL then answers COMMIT with ROLLBACK), or it ended the transaction itself.
    """


@asynccontextmanager
async def driver_transaction(
    connection: AsyncConnection, statements: AsyncpgStatements
) -> AsyncIterator[AsyncpgConnection]:
    """BEGIN and COMMIT, or ROLLBACK on an error, sent on asyncpg, around the statements of one unit of work.

    `connection` must be in AUTOCOMMIT mode (see AsyncpgConnection). Through SQLAlchemy, BEGIN went with the first
    statement and COMMIT through its adapter's greenlet hop: about a tenth of a write's CPU (BENCHMARKS.md, issue
    8). Plain statements rather than asyncpg's Transaction object, whose commit() does not say that PostgreSQL
    answered ROLLBACK: a unit that caught a failed statement's error outside a SAVEPOINT would have been
    acknowledged and lost; it raises UnitRolledBack instead. A connection whose transaction did not end cleanly (an
    error or a cancellation at BEGIN, COMMIT or ROLLBACK) is invalidated, so the pool never hands out one still
    inside a transaction; an error of the unit itself is raised as it is, whatever its ROLLBACK met.
    """
    driver = await asyncpg_of(connection)
    ended = False
    try:
        await statements.control(driver, "BEGIN")
        try:
            yield AsyncpgConnection(connection, driver, statements)
        except BaseException:
            with suppress(Exception):
                await driver.execute("ROLLBACK")
                ended = True
            raise
        if not driver.is_in_transaction():  # PostgreSQL would answer a COMMIT outside one with COMMIT
            ended = True
            raise UnitRolledBack("The unit ended its transaction itself before COMMIT.")
        answer = await statements.control(driver, "COMMIT")
        ended = True
        if answer != "COMMIT":
            raise UnitRolledBack(f"The unit's transaction did not commit: COMMIT answered {answer}.")
    finally:
        if not ended or driver.is_closed() or driver.is_in_transaction():
            await connection.invalidate()
