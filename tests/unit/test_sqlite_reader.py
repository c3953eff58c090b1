"""The SQLite point reader on a real file: each read is a transaction of its own, so it sees the latest commit."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import bindparam, select
from sqlalchemy.exc import OperationalError

from omnicart_server.db.driver import prepared
from omnicart_server.db.engine import create_sqlite_sync_engine
from omnicart_server.db.executor import driver_of
from omnicart_server.db.models import customers
from omnicart_server.db.reader import InlineReader

_CUSTOMER = prepared(select(customers.c.id).where(customers.c.id == bindparam("customer_id")))
_ALL_CUSTOMERS = select(customers.c.id).order_by(customers.c.id)


def commit_customer(db_file: Path, customer_id: str) -> None:
    """Commit a customer from a connection of its own, as the writer (or another process) does."""
    with sqlite3.connect(db_file) as other:
        other.execute(
            "INSERT INTO customers (id, created_at, head_seq, epoch) VALUES (?, ?, 0, ?)",
            (customer_id, datetime.now(UTC).isoformat(" "), "e" + customer_id),
        )


async def test_each_read_sees_what_was_committed_since_the_one_before(db_file: Path) -> None:
    """A prepared point read and a read through SQLAlchemy, alternating on the one kept connection."""
    reader = InlineReader(create_sqlite_sync_engine(f"sqlite+aiosqlite:///{db_file}", writer=False))
    try:
        assert await reader.one_or_none(_CUSTOMER, {"customer_id": "cus_a"}) is None
        assert await reader.all(_ALL_CUSTOMERS, {}) == []
        commit_customer(db_file, "cus_a")
        assert [row.id for row in await reader.all(_ALL_CUSTOMERS, {})] == ["cus_a"]
        commit_customer(db_file, "cus_b")
        found = await reader.one_or_none(_CUSTOMER, {"customer_id": "cus_b"})
        assert found is not None and found.id == "cus_b"
    finally:
        await reader.close()


def test_a_read_connection_left_in_a_transaction_fails_rather_than_read_an_old_snapshot(db_file: Path) -> None:
    """Only the writer joins a transaction the driver already began; a reader's BEGIN then fails out loud."""
    engine = create_sqlite_sync_engine(f"sqlite+aiosqlite:///{db_file}", writer=False)
    try:
        with engine.connect() as connection:
            driver = driver_of(connection)
            driver.execute("BEGIN")
            driver.execute("SELECT count(*) FROM customers").fetchall()  # the snapshot is taken here
            commit_customer(db_file, "cus_late")
            with pytest.raises(OperationalError, match="within a transaction"):
                connection.execute(_ALL_CUSTOMERS).all()
    finally:
        engine.dispose()
