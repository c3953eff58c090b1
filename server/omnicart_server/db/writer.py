"""The write path: each unit of work runs in a transaction that holds its customer, appends events, then commits.

PostgreSQL: every unit has its own transaction and locks its customer row (`SELECT ... FOR UPDATE`), so writes
for one customer are serialized and writes for different customers run side by side; PostgreSQL groups commits
itself. SQLite allows one writer at a time, so a single task runs the units, each inside its own SAVEPOINT of a
shared transaction (a failing unit rolls back alone), commits once for the whole group and only then resolves
each caller: every acknowledgement follows the fsync that holds its write (DESIGN.md §1, group commit). Its log is
copied back into the database file beside it, not inside its commits (db/checkpoint.py).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import sqlite3
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Generic, NamedTuple, TypeVar

import msgspec
from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.sql.elements import BindParameter, ClauseElement
from sqlalchemy.sql.visitors import iterate

from omnicart.protocol.events import Event
from omnicart_server.db.checkpoint import Checkpointer
from omnicart_server.db.driver import AsyncpgStatements, DriverStatements, is_prepared, named_values, prepared
from omnicart_server.db.engine import SQLITE_BUSY_TIMEOUT_MS, create_sqlite_sync_engine, is_sqlite_url
from omnicart_server.db.executor import Executor, InlineConnection, UnitRolledBack, driver_of, driver_transaction
from omnicart_server.db.models import customers, events

if TYPE_CHECKING:
    from sqlalchemy import Engine, Select
    from sqlalchemy.engine import Connection, Row
    from sqlalchemy.ext.asyncio import AsyncEngine
    from sqlalchemy.sql.base import Executable
    from sqlalchemy.sql.dml import UpdateBase

logger = logging.getLogger(__name__)

T = TypeVar("T")
GROUP_MAX = 256
"""Units per SQLite commit; bounds the latency a unit can add to the others of its group."""


@dataclass(frozen=True)
class CommittedEvent:
    """An event and its customer, handed to listeners once its transaction is durable."""

    customer_id: str
    event: Event


CommitListener = Callable[[list[CommittedEvent]], None]
AppendHook = Callable[["WriteTxn", str, Event], Awaitable[None]]
"""Runs inside the transaction that appends an event (the webhook outbox is written this way)."""


# Built once: SQLAlchemy then reuses each one's cache key and compiled form (building them cost a third of a write).
_HEAD_SEQ = select(customers.c.head_seq).where(customers.c.id == bindparam("customer_id"))
_MERGED_INTO = select(customers.c.merged_into).where(customers.c.id == bindparam("customer_id"))
_LOCKED = {
    False: (prepared(_HEAD_SEQ), prepared(_MERGED_INTO)),
    True: (prepared(_HEAD_SEQ.with_for_update()), prepared(_MERGED_INTO.with_for_update())),
}
_BUMP_HEAD = prepared(
    update(customers)
    .where(customers.c.id == bindparam("customer_id"))
    .values(head_seq=customers.c.head_seq + 1)
    .returning(customers.c.head_seq)
)
_EVENT_COLUMNS = ("customer_id", "kind", "at", "session_id", "channel", "data")
_INSERT_EVENT = prepared(insert(events).values(named_values(events, "seq", *_EVENT_COLUMNS)))
_HEAD_BUMPED = _BUMP_HEAD.cte("head")
_APPEND_AFTER_HEAD = prepared(
    insert(events)
    .from_select(
        ["seq", *_EVENT_COLUMNS],
        select(_HEAD_BUMPED.c.head_seq, *(bindparam(name, type_=events.c[name].type) for name in _EVENT_COLUMNS)),
    )
    .returning(events.c.seq)
)
"""PostgreSQL: _BUMP_HEAD and _INSERT_EVENT as one statement, a round trip fewer per event (SQLite allows no UPDATE
inside WITH)."""


class Along(NamedTuple):
    """An INSERT or UPDATE written with an event, whose result nobody reads: `WriteTxn.append_event(along=...)`.

    On PostgreSQL it runs as a CTE of the event's own statement, so the event and its writes take one round trip.
    `statement` is built once at import, `prepared`, with its values named (`named_values`, with a prefix of its
    own): its names share one statement with the event's and the other writes'.
    """

    statement: UpdateBase
    parameters: Mapping[str, Any]


@functools.cache
def _append_along(statements: tuple[UpdateBase, ...]) -> Executable:
    """_APPEND_AFTER_HEAD led by each of `statements` as a data-modifying CTE; built once per combination.

    The CTEs and the append run on one snapshot and cannot see each other's rows: fine for writes to other rows
    than the event's, which is all an Along is for. The combinations are the few the services write. Refuses
    statements built per call (they would fill the caches) and a parameter name used by two of the parts (both
    would get one value).
    """
    named: set[str] = set(_named_parameters(_APPEND_AFTER_HEAD))
    for statement in statements:
        if not is_prepared(statement):
            raise ValueError(f"not a prepared statement: {statement}")
        names = _named_parameters(statement)
        if not named.isdisjoint(names):
            raise ValueError(f"{sorted(named & names)} named twice in one append, again by: {statement}")
        named |= names
    ctes = [statement.cte(f"along_{n}") for n, statement in enumerate(statements)]
    return prepared(_APPEND_AFTER_HEAD.add_cte(*ctes))


def _named_parameters(statement: ClauseElement) -> set[str]:
    """The names of the parameters the statement is run with (not its literals, which SQLAlchemy names itself)."""
    return {element.key for element in iterate(statement) if isinstance(element, BindParameter) and not element.unique}


class WriteTxn:
    """What a unit of work may do: lock its customer, write rows, append events to the customer's log."""

    def __init__(
        self, conn: Executor, *, row_locks: bool, append_hooks: list[AppendHook], now: datetime | None = None
    ) -> None:
        self.conn = conn
        self.now = now or datetime.now(UTC)
        """The time of every row and event this unit writes: its transaction's start."""
        self.appended: list[CommittedEvent] = []
        self._row_locks = row_locks
        self._append_hooks = append_hooks

    async def lock_customer(self, customer_id: str) -> int | None:
        """Hold the customer for the rest of the transaction; return its head seq, or None if there is none."""
        head_seq, _ = _LOCKED[self._row_locks]
        head: int | None = (await self.conn.execute(head_seq, {"customer_id": customer_id})).scalar_one_or_none()
        return head

    async def hold_customer(self, customer_id: str) -> str:
        """Lock the customer, and the one it was merged into since the caller looked: the customer to write to.

        No deadlock with a merge (which locks both in id order): this only reaches for the second customer once
        `merged_into` is set, that is once the merge has committed and let go of both.
        """
        _, query = _LOCKED[self._row_locks]
        for _ in range(16):
            merged_into = (await self.conn.execute(query, {"customer_id": customer_id})).scalar_one_or_none()
            if merged_into is None:
                return customer_id
            customer_id = merged_into
        raise RuntimeError(f"merge chain too long at {customer_id}")

    async def hold_and_read(
        self, customer_id: str, read: Select[Any], parameters: Mapping[str, Any]
    ) -> tuple[str, Row[Any] | None]:
        """Hold the customer as `hold_customer` does and run `read` for it: the customer to write to, and the row.

        `read` selects `customers.merged_into` for `customers.id = :customer_id`, joined to whatever else the write
        needs. On SQLite the one writer already holds every customer, so the read is the hold: one statement. On
        PostgreSQL the row lock comes first, in its own statement: a read joined to a `FOR UPDATE` would see the
        other tables as they were before it waited for the lock, and the write would build on a stale row.
        """
        if self._row_locks:
            customer_id = await self.hold_customer(customer_id)
        row = (await self.conn.execute(read, {**parameters, "customer_id": customer_id})).one_or_none()
        if row is not None and row.merged_into is not None:  # SQLite only: merged since the caller looked
            customer_id = await self.hold_customer(row.merged_into)
            row = (await self.conn.execute(read, {**parameters, "customer_id": customer_id})).one_or_none()
        return customer_id, row

    async def write(self, write: Along) -> None:
        """Run a write on its own, where no event goes with it."""
        await self.conn.execute(write.statement, write.parameters)

    async def append_event(
        self,
        customer_id: str,
        kind: str,
        data: dict[str, Any],
        *,
        session_id: str | None,
        channel: str | None,
        along: Sequence[Along] = (),
    ) -> Event:
        """Write the next event of the customer's log in this transaction (seq = head + 1, never a gap), and `along`.

        On PostgreSQL the writes of `along` go in the event's statement; on SQLite each runs before it.
        """
        row: dict[str, Any] = {
            "customer_id": customer_id,
            "kind": kind,
            "at": self.now,
            "session_id": session_id,
            "channel": channel,
            "data": msgspec.json.encode(data).decode(),
        }
        if self._row_locks:  # PostgreSQL
            statement: Executable = _APPEND_AFTER_HEAD
            if along:
                statement = _append_along(tuple(write.statement for write in along))
                for write in along:
                    row.update(write.parameters)
            seq = (await self.conn.execute(statement, row)).scalar_one()
        else:
            for write in along:
                await self.write(write)
            seq = (await self.conn.execute(_BUMP_HEAD, {"customer_id": customer_id})).scalar_one()
            row["seq"] = seq
            await self.conn.execute(_INSERT_EVENT, row)
        event = Event(seq=seq, kind=kind, at=self.now, session_id=session_id, channel=channel, data=data)
        self.appended.append(CommittedEvent(customer_id, event))
        for hook in self._append_hooks:
            await hook(self, customer_id, event)
        return event


Work = Callable[[WriteTxn], Awaitable[T]]


class Writer:
    """Runs units of work durably; listeners hear of their events after commit."""

    def __init__(self, engine: AsyncEngine | None) -> None:
        self._engine = engine
        self._listeners: list[CommitListener] = []
        self._append_hooks: list[AppendHook] = []

    def on_commit(self, listener: CommitListener) -> None:
        self._listeners.append(listener)

    def on_append(self, hook: AppendHook) -> None:
        self._append_hooks.append(hook)

    def _notify(self, committed: list[CommittedEvent]) -> None:
        if not committed:
            return
        for listener in self._listeners:
            try:
                listener(committed)
            except Exception:  # a listener's fault must not undo an acknowledged write
                logger.exception("commit listener failed")

    async def start(self) -> None:
        """Begin taking work."""

    async def stop(self) -> None:
        """Finish the work already taken, then refuse more."""

    async def run(self, work: Work[T]) -> T:
        raise NotImplementedError


class RowLockWriter(Writer):
    """PostgreSQL: one transaction per unit, serialized per customer by the row lock."""

    def __init__(self, engine: AsyncEngine) -> None:
        super().__init__(engine.execution_options(isolation_level="AUTOCOMMIT"))  # the driver's own transactions
        self._statements = AsyncpgStatements(engine.dialect)

    async def run(self, work: Work[T]) -> T:
        assert self._engine is not None
        async with self._engine.connect() as conn, driver_transaction(conn, self._statements) as inline:
            txn = WriteTxn(inline, row_locks=True, append_hooks=self._append_hooks)
            result = await work(txn)
        self._notify(txn.appended)
        return result


@dataclass
class _Job(Generic[T]):
    work: Work[T]
    future: asyncio.Future[T] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class GroupCommitWriter(Writer):
    """SQLite: one writer task, many units per commit, each in its own SAVEPOINT, statements run inline."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(None)
        self._sync_engine = engine
        self._queue: asyncio.Queue[_Job[Any] | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._connection: Connection | None = None
        """Kept open between groups; opened off the loop, since opening may wait for another process's lock."""
        self._statements = DriverStatements(engine.dialect)
        self._checkpointer = Checkpointer(
            create_sqlite_sync_engine(engine.url.render_as_string(hide_password=False), writer=False)
        )

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="omnicart-group-commit")
        await self._checkpointer.start()

    async def stop(self) -> None:
        if self._task is not None:
            await self._queue.put(None)
            await self._task
            self._task = None
        await self._checkpointer.stop()
        if self._connection is not None:
            self._connection.close()
            self._connection = None
        self._sync_engine.dispose()

    async def run(self, work: Work[T]) -> T:
        if self._task is None:
            raise RuntimeError("writer is not running")
        job: _Job[T] = _Job(work)
        await self._queue.put(job)
        return await job.future

    async def _loop(self) -> None:
        stopping = False
        while not stopping:
            first = await self._queue.get()
            if first is None:
                break
            group: list[_Job[Any]] = [first]
            while len(group) < GROUP_MAX and not self._queue.empty():
                job = self._queue.get_nowait()
                if job is None:
                    stopping = True
                    break
                group.append(job)
            await self._commit_group(group)

    async def _commit_group(self, group: list[_Job[Any]]) -> None:
        outcomes: list[tuple[_Job[Any], BaseException | None, Any]] = []
        committed: list[CommittedEvent] = []
        if self._connection is None:
            self._connection = await asyncio.to_thread(self._sync_engine.connect)
        connection = self._connection
        driver = driver_of(connection)
        try:
            await _begin_immediate(driver)
            inline = InlineConnection(connection, self._statements)
            now = datetime.now(UTC)  # the units share a transaction, and so its time
            for job in group:
                txn = WriteTxn(inline, row_locks=False, append_hooks=self._append_hooks, now=now)
                try:
                    with inline.unit():
                        result = await job.work(txn)
                except Exception as exc:  # this unit alone is rolled back; the group goes on
                    outcomes.append((job, exc, None))
                else:
                    outcomes.append((job, None, result))
                    committed.extend(txn.appended)
                if not driver.in_transaction:  # SQLite rolled all of it back (a full disk, an I/O error): the next
                    # unit's SAVEPOINT would begin and commit a transaction of its own, then be reported as failed
                    raise UnitRolledBack("SQLite rolled back the group's transaction; nothing in it was kept.")
            await asyncio.to_thread(driver.execute, "COMMIT")  # the fsync: every caller in the group waits for it
        except Exception as exc:  # the commit itself failed: nobody in the group is acknowledged
            logger.exception("group commit of %d units failed", len(group))
            await self._drop_connection()
            for job in group:
                if not job.future.done():
                    job.future.set_exception(exc)
            return
        self._checkpointer.committed()
        if connection.in_transaction():  # a statement through SQLAlchemy joined the driver's transaction
            try:
                connection.rollback()  # only ends SQLAlchemy's record of it: the driver has nothing to roll back
            except Exception:  # the group is committed and is acknowledged all the same
                logger.exception("ending SQLAlchemy's record of a committed group failed; reconnecting")
                await self._drop_connection()
        for job, error, result in outcomes:
            if job.future.done():
                continue
            if error is not None:
                job.future.set_exception(error)
            else:
                job.future.set_result(result)
        self._notify(committed)

    async def _drop_connection(self) -> None:
        """Close the kept connection (which rolls back whatever it still holds); the next group opens another."""
        connection, self._connection = self._connection, None
        if connection is not None:
            await asyncio.to_thread(connection.close)


async def _begin_immediate(driver: sqlite3.Connection) -> None:
    """BEGIN IMMEDIATE on the loop, which takes no time unless another process holds the write lock.

    Then it is retried after asyncio.sleep, never blocking the loop, for as long as SQLite's busy timeout would have
    waited (a hop to a thread for every BEGIN cost more than the BEGIN itself). Straight to the driver, as is the
    COMMIT: SQLAlchemy's begin and commit cost ~45 us of the loop's time per group, which is per write when writes
    come one at a time. A statement that does go through SQLAlchemy joins this transaction (db/engine.py).
    """
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    delay = 0.001
    while True:
        try:
            driver.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError as exc:
            busy = exc.sqlite_errorcode & 0xFF == sqlite3.SQLITE_BUSY  # SQLITE_BUSY_RECOVERY and the like too
            if not busy or time.monotonic() >= deadline:
                raise
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.05)


def create_writer(engine: AsyncEngine, db_url: str) -> Writer:
    """The writer for the database of `db_url`: the group-commit writer on SQLite, row locks elsewhere."""
    if is_sqlite_url(db_url):
        return GroupCommitWriter(create_sqlite_sync_engine(db_url, writer=True))
    return RowLockWriter(engine)
