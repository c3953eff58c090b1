"""Short reads on hot paths: inline on SQLite, pooled on PostgreSQL.

They are the session behind a token, the cart, and the log's position and pages of it to replay. A primary-key
read of a local SQLite file takes tens of microseconds; through aiosqlite it also took a hop to a worker thread and
back, several times the read itself, on every request whose session was not cached. WAL readers never wait for the
writer, so the read runs on the loop like the writer's statements (db/executor.py), and a `prepared` statement
runs straight on the driver (db/driver.py). A device connecting reads the log's position and replays the log:
inline, 4,000 devices connected in ~4 s, where through the aiosqlite pool they took 17-26 s (BENCHMARKS.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from omnicart_server.db.driver import AsyncpgStatements, DriverStatements, is_prepared
from omnicart_server.db.engine import create_sqlite_sync_engine, is_sqlite_url
from omnicart_server.db.executor import driver_of

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlalchemy.engine import Connection, Row
    from sqlalchemy.ext.asyncio import AsyncEngine
    from sqlalchemy.sql.base import Executable


class PointReader(Protocol):
    async def one_or_none(self, statement: Executable, parameters: Mapping[str, Any]) -> Row[Any] | None: ...

    async def all(self, statement: Executable, parameters: Mapping[str, Any]) -> Sequence[Row[Any]]: ...

    async def close(self) -> None: ...


class InlineReader:
    """SQLite: one kept connection, each read its own short transaction so it sees the latest commit.

    A prepared statement runs on the driver in autocommit mode, which is a transaction of its own. No read awaits
    anything, so the one connection serves one read at a time, on the loop.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._statements = DriverStatements(engine.dialect)
        self._kept: Connection | None = None

    async def one_or_none(self, statement: Executable, parameters: Mapping[str, Any]) -> Row[Any] | None:
        kept = self._connection()
        if is_prepared(statement):
            row: Row[Any] | None = self._statements.run(driver_of(kept), statement, parameters).one_or_none()
            return row
        try:
            return kept.execute(statement, parameters).one_or_none()
        finally:
            kept.rollback()  # ends the read's transaction, so the next read sees the latest commit

    async def all(self, statement: Executable, parameters: Mapping[str, Any]) -> Sequence[Row[Any]]:
        kept = self._connection()
        try:
            return kept.execute(statement, parameters).all()
        finally:
            kept.rollback()

    def _connection(self) -> Connection:
        if self._kept is None:
            self._kept = self._engine.connect()
        return self._kept

    async def close(self) -> None:
        if self._kept is not None:
            self._kept.close()
            self._kept = None
        self._engine.dispose()


class PooledReader:
    """PostgreSQL: a connection from the shared async pool.

    A prepared statement runs on asyncpg outside any transaction (one round trip; through SQLAlchemy, the read
    would be wrapped in BEGIN and ROLLBACK: three), on the pool's raw connection: checking out an AsyncConnection
    and closing it cost ~85 us of CPU, the raw connection ~16 us (BENCHMARKS.md, issue 8).
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._statements = AsyncpgStatements(engine.dialect)

    async def one_or_none(self, statement: Executable, parameters: Mapping[str, Any]) -> Row[Any] | None:
        if is_prepared(statement):
            raw = await self._engine.raw_connection()
            try:
                row: Row[Any] | None = (
                    await self._statements.run(raw.driver_connection, statement, parameters)
                ).one_or_none()
                return row
            finally:
                raw.close()  # back to the pool: no transaction to roll back, so nothing to await
        async with self._engine.connect() as connection:
            return (await connection.execute(statement, parameters)).one_or_none()

    async def all(self, statement: Executable, parameters: Mapping[str, Any]) -> Sequence[Row[Any]]:
        async with self._engine.connect() as connection:
            return (await connection.execute(statement, parameters)).all()

    async def close(self) -> None:
        """The pool belongs to the server context, which disposes of it."""


def create_point_reader(db_url: str, read_engine: AsyncEngine) -> PointReader:
    if is_sqlite_url(db_url):
        return InlineReader(create_sqlite_sync_engine(db_url, writer=False))
    return PooledReader(read_engine)
