"""WAL checkpoints beside the SQLite writer, so copying the log back into the database seldom stalls a commit.

By default SQLite checkpoints inside the COMMIT that takes the log past 1,000 pages: the group-commit writer then
waits for the copy and its fsyncs, and every write queued behind it waits too (the write -> other device p99 at
10,000 devices was 25-60 ms with it and ~13 ms without, BENCHMARKS.md). A checkpoint may run beside a writer, so
the Checkpointer copies the log from a connection of its own, on a thread, a short while after commits (PASSIVE:
it never waits for the writer or readers). SQLite starts the log over only after a checkpoint that copied every
frame before a write begins, which a checkpoint running beside a busy writer rarely manages; so the writer keeps
its own auto-checkpoint at WRITER_AUTOCHECKPOINT_PAGES, which finds most of the log copied already and only
finishes the tail.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlalchemy.engine import Connection

logger = logging.getLogger(__name__)

WRITER_AUTOCHECKPOINT_PAGES = 10_000
"""Log pages after which the writer's own COMMIT finishes a checkpoint (SQLite's default is 1,000)."""
CHECKPOINT_INTERVAL_SECONDS = 0.1
"""At most this often; with writes coming all the time each pass copies a tenth of a second of them."""


class CheckpointPass(NamedTuple):
    """One PASSIVE checkpoint: frames in the log, and how many of them are now in the database file."""

    log_frames: int
    copied_frames: int


class Checkpointer:
    """Runs PASSIVE checkpoints on its own connection, off the event loop, after the writer commits."""

    def __init__(self, engine: Engine, interval: float = CHECKPOINT_INTERVAL_SECONDS) -> None:
        self._engine = engine
        self._interval = interval
        self._committed = asyncio.Event()
        self._connection: Connection | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def committed(self) -> None:
        """Called by the writer after each commit: the log has grown."""
        self._committed.set()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="omnicart-wal-checkpoint")

    async def stop(self) -> None:
        """Let a pass under way finish (its thread cannot be interrupted), then close the connection."""
        if self._task is not None:
            self._stopping = True
            self._committed.set()
            await self._task
            self._task = None
        if self._connection is not None:
            await asyncio.to_thread(self._connection.close)
            self._connection = None
        self._engine.dispose()

    async def _loop(self) -> None:
        while True:
            await self._committed.wait()
            if self._stopping:
                return
            self._committed.clear()
            try:
                await asyncio.to_thread(self.run_pass)
            except Exception:  # never the writer's concern: its own auto-checkpoint still bounds the log
                logger.exception("WAL checkpoint failed")
            await asyncio.sleep(self._interval)

    def run_pass(self) -> CheckpointPass:
        """Copy what it can of the log into the database file, waiting for nobody (blocking: call off the loop)."""
        if self._connection is None:
            self._connection = self._engine.connect()
        driver = self._connection.connection.driver_connection
        assert isinstance(driver, sqlite3.Connection)
        _busy, log_frames, copied_frames = driver.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        return CheckpointPass(log_frames, copied_frames)
