"""The SQLite group-commit writer on a real file: units committed together, a failing unit rolled back alone."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import insert, text

from omnicart_server.db.checkpoint import Checkpointer
from omnicart_server.db.engine import create_sqlite_sync_engine
from omnicart_server.db.models import customers
from omnicart_server.db.writer import GroupCommitWriter, Work, WriteTxn


class UnitFailed(Exception):
    pass


def add_customer(customer_id: str, *, then_fail: bool = False) -> Work[str]:
    async def work(txn: WriteTxn) -> str:
        await txn.conn.execute(
            insert(customers).values(id=customer_id, created_at=txn.now, head_seq=0, epoch="e" + customer_id)
        )
        if then_fail:
            raise UnitFailed(customer_id)
        return customer_id

    return work


async def test_a_failing_unit_is_rolled_back_alone_and_the_group_commits(db_file: Path) -> None:
    """Units queued together share one commit; the one that fails after writing leaves nothing, the others stay."""
    writer = GroupCommitWriter(create_sqlite_sync_engine(f"sqlite+aiosqlite:///{db_file}", writer=True))
    await writer.start()
    try:
        outcomes = await asyncio.gather(
            writer.run(add_customer("cus_a")),
            writer.run(add_customer("cus_b", then_fail=True)),
            writer.run(add_customer("cus_c")),
            return_exceptions=True,
        )
    finally:
        await writer.stop()
    assert outcomes[0] == "cus_a" and outcomes[2] == "cus_c"
    assert isinstance(outcomes[1], UnitFailed)
    with sqlite3.connect(db_file) as check:
        stored = sorted(row[0] for row in check.execute("SELECT id FROM customers"))
    assert stored == ["cus_a", "cus_c"]


async def test_groups_one_after_another_each_commit_and_let_go_of_the_write_lock(db_file: Path) -> None:
    """A statement through SQLAlchemy joins the group's transaction; after each COMMIT nothing is left open."""
    writer = GroupCommitWriter(create_sqlite_sync_engine(f"sqlite+aiosqlite:///{db_file}", writer=True))
    await writer.start()
    try:
        for customer_id in ("cus_1", "cus_2", "cus_3"):
            assert await writer.run(add_customer(customer_id)) == customer_id
            with sqlite3.connect(db_file, timeout=0) as other:
                other.execute("BEGIN IMMEDIATE")  # raises "database is locked" if the writer still held it
                stored = sorted(row[0] for row in other.execute("SELECT id FROM customers"))
                other.rollback()
            assert stored[-1] == customer_id
    finally:
        await writer.stop()
    assert stored == ["cus_1", "cus_2", "cus_3"]


def fill_the_disk() -> Work[str]:
    """A unit whose write finds the database full: SQLite then rolls back the whole transaction, not the unit."""

    async def work(txn: WriteTxn) -> str:
        await txn.conn.execute(text("PRAGMA max_page_count = 1"))  # clamped to the pages in use: no room to grow
        await txn.conn.execute(
            insert(customers).values(id="cus_big", created_at=txn.now, head_seq=0, epoch="e" * 200_000)
        )
        return "cus_big"

    return work


async def test_a_transaction_rolled_back_by_sqlite_fails_the_whole_group(db_file: Path) -> None:
    """No unit of the group is acknowledged, none before the full disk is kept, and none after it runs alone."""
    writer = GroupCommitWriter(create_sqlite_sync_engine(f"sqlite+aiosqlite:///{db_file}", writer=True))
    await writer.start()
    try:
        outcomes = await asyncio.gather(
            writer.run(add_customer("cus_before")),
            writer.run(fill_the_disk()),
            writer.run(add_customer("cus_after")),
            return_exceptions=True,
        )
        assert all(isinstance(outcome, Exception) for outcome in outcomes), outcomes
        assert await writer.run(add_customer("cus_next")) == "cus_next"  # a new connection, without the limit
    finally:
        await writer.stop()
    with sqlite3.connect(db_file) as check:
        stored = sorted(row[0] for row in check.execute("SELECT id FROM customers"))
    assert stored == ["cus_next"]


async def test_a_write_waits_for_another_process_lock_without_blocking_the_loop(db_file: Path) -> None:
    """While another connection holds the write lock, the unit waits (the loop keeps running), then commits."""
    writer = GroupCommitWriter(create_sqlite_sync_engine(f"sqlite+aiosqlite:///{db_file}", writer=True))
    await writer.start()
    other = sqlite3.connect(db_file, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        pending = asyncio.create_task(writer.run(add_customer("cus_waiting")))
        ticks = 0
        for _ in range(20):  # the loop is free while the writer waits for the lock
            await asyncio.sleep(0.01)
            ticks += 1
        assert not pending.done(), "the write went through while another connection held the lock"
        other.execute("COMMIT")
        assert await asyncio.wait_for(pending, 10) == "cus_waiting"
        assert ticks == 20
    finally:
        other.close()
        await writer.stop()
    with sqlite3.connect(db_file) as check:
        assert [row[0] for row in check.execute("SELECT id FROM customers")] == ["cus_waiting"]


def checkpointed_customers(db_file: Path, tmp_path: Path) -> list[str]:
    """The customers in the database file itself, leaving out what is still only in its write-ahead log."""
    alone = tmp_path / "alone.db"
    shutil.copyfile(db_file, alone)  # without its -wal file beside it, SQLite reads the main file only
    with sqlite3.connect(alone) as check:
        return sorted(row[0] for row in check.execute("SELECT id FROM customers"))


async def test_a_checkpoint_pass_copies_committed_writes_into_the_database_file(db_file: Path, tmp_path: Path) -> None:
    """On the writer's connection settings commits stay in the log (its auto-checkpoint is far out) until a pass.

    The commits go through a bare writer connection, not a GroupCommitWriter, whose own Checkpointer would race
    this one (a pass that finds another under way copies nothing and reports -1).
    """
    url = f"sqlite+aiosqlite:///{db_file}"
    writer_engine = create_sqlite_sync_engine(url, writer=True)
    try:
        with writer_engine.connect() as writes:  # open throughout: closing the last connection checkpoints
            for n in range(20):
                with writes.begin():
                    writes.execute(
                        insert(customers).values(id=f"cus_{n}", created_at=datetime.now(UTC), head_seq=0, epoch="e")
                    )
            assert checkpointed_customers(db_file, tmp_path) == [], "the writer's connection checkpointed on its own"
            checkpointer = Checkpointer(create_sqlite_sync_engine(url, writer=False))
            try:
                done = checkpointer.run_pass()
            finally:
                await checkpointer.stop()
            assert done.log_frames > 0 and done.copied_frames == done.log_frames
            assert checkpointed_customers(db_file, tmp_path) == sorted(f"cus_{n}" for n in range(20))
    finally:
        writer_engine.dispose()


async def test_the_writer_checkpoints_beside_its_commits(db_file: Path, tmp_path: Path) -> None:
    """A running writer's commits reach the database file while the writer stays open (no close-time checkpoint)."""
    writer = GroupCommitWriter(create_sqlite_sync_engine(f"sqlite+aiosqlite:///{db_file}", writer=True))
    await writer.start()
    try:
        await writer.run(add_customer("cus_first"))
        await writer.run(add_customer("cus_second"))
        deadline = time.monotonic() + 10
        while checkpointed_customers(db_file, tmp_path) != ["cus_first", "cus_second"]:
            assert time.monotonic() < deadline, "no checkpoint copied the commits into the database file"
            await asyncio.sleep(0.05)
    finally:
        await writer.stop()
