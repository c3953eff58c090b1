"""Async engines: SQLite tuned for durable WAL with one writer, PostgreSQL as is."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from omnicart_server.db.checkpoint import WRITER_AUTOCHECKPOINT_PAGES

if TYPE_CHECKING:
    from omnicart_server.config import Settings

SQLITE_BUSY_TIMEOUT_MS = 30_000


def _sqlite_pragmas(engine: Engine, *, writer: bool, busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS) -> None:
    """WAL lets readers run beside the writer; synchronous=FULL fsyncs every commit so an ack survives power loss.

    The writer checkpoints only past WRITER_AUTOCHECKPOINT_PAGES: a Checkpointer copies the log beside it.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take over BEGIN from the driver: pysqlite's own transaction handling breaks SAVEPOINT (SQLAlchemy docs,
        # "Serializable isolation / Savepoints / Transactional DDL").
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
        cursor.execute("PRAGMA foreign_keys=ON")
        if writer:  # the Checkpointer copies the log beside the writer (db/checkpoint.py)
            cursor.execute(f"PRAGMA wal_autocheckpoint={WRITER_AUTOCHECKPOINT_PAGES}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # The writer takes the write lock up front, so a transaction never fails half-way on "database is locked";
        # other processes wait up to the busy timeout. The group-commit writer begins on the driver itself
        # (writer._begin_immediate): SQLAlchemy then joins that transaction rather than beginning another. A reader
        # always begins its own: joining a read transaction left open would read an old snapshot without a word,
        # where BEGIN fails loudly.
        if not (writer and conn.connection.driver_connection.in_transaction):
            conn.exec_driver_sql("BEGIN IMMEDIATE" if writer else "BEGIN")


def is_sqlite_url(db_url: str) -> bool:
    """Whether a database URL names SQLite: the one place that decides between the two write paths."""
    return db_url.startswith("sqlite")


def create_engines(settings: Settings) -> tuple[AsyncEngine, AsyncEngine]:
    """Return (write engine, read engine); on PostgreSQL both are one pool of up to `db_pool_size` kept connections.

    A checkout that waits past `db_pool_timeout_seconds` raises sqlalchemy.exc.TimeoutError (answered 503).
    """
    db_url = settings.db_url
    if is_sqlite_url(db_url):
        write = create_async_engine(db_url, pool_size=1, max_overflow=0)
        # Kept connections only: overflow connections are closed after each use, and reopening them cost 30 % of
        # read and write throughput (BENCHMARKS.md).
        read = create_async_engine(db_url, pool_size=16, max_overflow=0)
        _sqlite_pragmas(write.sync_engine, writer=True)
        _sqlite_pragmas(read.sync_engine, writer=False)
        return write, read
    # No overflow: SQLAlchemy closes an overflow connection when it comes back to a full pool, so any load past
    # pool_size opened a new PostgreSQL backend per request (BENCHMARKS.md, issue 8); past it, requests wait.
    engine = create_async_engine(
        db_url, pool_size=settings.db_pool_size, max_overflow=0, pool_timeout=settings.db_pool_timeout_seconds
    )
    _hand_out_open_connections(engine.sync_engine)
    return engine, engine


def _hand_out_open_connections(engine: Engine) -> None:
    """The pool hands out only connections the driver still holds open, and opens new ones for the rest.

    A connection the server closed (a restart, a failover, an idle timeout) is known closed as soon as the loop has
    read its end: a check that costs nothing, where pool_pre_ping cost a round trip on every checkout (a cart write
    sent 20 messages to PostgreSQL with it, 12.4 without; BENCHMARKS.md). A connection lost without a word fails
    its request with a 503, and is dropped at its next checkout. tests/durability/test_postgres_outage.py
    crashes PostgreSQL under a server to prove it.
    """

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        if dbapi_connection.driver_connection.is_closed():
            raise DisconnectionError("the database closed this connection")  # the pool retries with a new one


def create_sqlite_sync_engine(db_url: str, *, writer: bool) -> Engine:
    """A sync engine of one connection on the same file, for statements run on the loop (db/executor.py says why).

    The writer's connection is used by one task at a time but from two threads (COMMIT, the fsync, runs off the
    loop). Its busy timeout is 0: BEGIN runs on the loop and must not block it; the writer waits for another
    process's write lock itself, with asyncio.sleep (writer._begin_immediate). Readers never wait in WAL mode.
    """
    url = make_url(db_url).set(drivername="sqlite+pysqlite")
    engine = create_engine(url, pool_size=1, max_overflow=0, connect_args={"check_same_thread": False})
    _sqlite_pragmas(engine, writer=writer, busy_timeout_ms=0 if writer else SQLITE_BUSY_TIMEOUT_MS)
    return engine
