"""What the write paths ask of a connection, and the inline form the SQLite writer gives them.

On SQLite the single writer runs statements on a plain (sync) connection, inline on the event loop: a statement on
a local file takes tens of microseconds, while a hop to aiosqlite's thread per statement capped the writer at a few
hundred writes a second (BENCHMARKS.md). Only BEGIN IMMEDIATE (which may wait for another process) and COMMIT (the
fsync) leave the loop.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, CursorResult
    from sqlalchemy.sql.base import Executable


class Executor(Protocol):
    """A connection inside a transaction: an AsyncConnection, or the SQLite writer's InlineConnection."""

    async def execute(
        self, statement: Executable, parameters: Mapping[str, Any] | None = None, /
    ) -> CursorResult[Any]: ...

    def begin_nested(self) -> AbstractAsyncContextManager[Any]: ...


class InlineConnection:
    """A sync connection behind the async interface: `await execute(...)` runs the statement at once."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    async def execute(self, statement: Executable, parameters: Mapping[str, Any] | None = None, /) -> CursorResult[Any]:
        return self._connection.execute(statement, parameters)

    @asynccontextmanager
    async def _savepoint(self) -> AsyncIterator[None]:
        with self._connection.begin_nested():
            yield

    def begin_nested(self) -> AbstractAsyncContextManager[None]:
        return self._savepoint()

    @asynccontextmanager
    async def unit(self) -> AsyncIterator[None]:
        """One unit of a group commit, in a SAVEPOINT of its own: a unit that fails is rolled back alone.

        The SAVEPOINT goes straight to the driver: SQLAlchemy's bookkeeping for it cost a tenth of each write, and
        nothing else in the group needs to know of it.
        """
        driver = self._connection.connection.driver_connection
        assert driver is not None
        driver.execute("SAVEPOINT unit")
        try:
            yield
        except BaseException:
            driver.execute("ROLLBACK TO unit")
            driver.execute("RELEASE unit")
            raise
        driver.execute("RELEASE unit")
