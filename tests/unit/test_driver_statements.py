"""Prepared statements run on the sqlite3 driver read and write exactly what SQLAlchemy would, on a real file."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import (
    Boolean,
    Column,
    Engine,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    bindparam,
    func,
    insert,
    select,
    text,
)
from sqlalchemy import update as update_
from sqlalchemy.exc import IntegrityError

from omnicart_server.db.driver import DriverStatements, named_values, prepared
from omnicart_server.db.engine import create_sqlite_sync_engine
from omnicart_server.db.executor import driver_of
from omnicart_server.db.models import UTCDateTime

metadata = MetaData()
things = Table(
    "things",
    metadata,
    Column("id", String(10), primary_key=True),
    Column("count", Integer, nullable=False),
    Column("seen_at", UTCDateTime(), nullable=True),
    Column("hidden", Boolean, nullable=False),
    Column("blob", LargeBinary, nullable=False),
)
INSERT = prepared(insert(things).values(named_values(things, "id", "count", "seen_at", "hidden", "blob")))
EVERY_COLUMN = prepared(insert(things))
"""An INSERT that names no values: every column of the table is a parameter it must be given."""
BY_ID = prepared(select(things).where(things.c.id == bindparam("id")))
BUMP = prepared(
    update_(things).where(things.c.id == bindparam("thing")).values(count=things.c.count + 1).returning(things.c.count)
)
AT = datetime(2026, 12, 4, 14, 30, 1, 123456, tzinfo=UTC)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = create_sqlite_sync_engine(f"sqlite+aiosqlite:///{tmp_path / 'driver.db'}", writer=False)
    metadata.create_all(engine)
    yield engine
    engine.dispose()


def test_rows_written_on_the_driver_read_back_the_same_through_sqlalchemy(engine: Engine) -> None:
    """Types go through the columns' own processors: an aware datetime, a bool and bytes survive the round trip."""
    statements = DriverStatements(engine.dialect)
    with engine.connect() as connection:
        driver = driver_of(connection)
        row = {"id": "a", "count": 1, "seen_at": AT, "hidden": True, "blob": b"\x00\x01"}
        statements.run(driver, INSERT, row)
        on_driver = statements.run(driver, BY_ID, {"id": "a"}).one()
        through_sqlalchemy = connection.execute(BY_ID, {"id": "a"}).one()
    assert tuple(on_driver) == tuple(through_sqlalchemy) == ("a", 1, AT, True, b"\x00\x01")
    assert on_driver.seen_at == AT and on_driver.seen_at.tzinfo is not None
    assert on_driver.hidden is True


def test_datetimes_are_stored_as_utc_text_that_orders_by_time(engine: Engine) -> None:
    """Any zone goes in as UTC, in the text form SQLite files have always held, on the driver and through SQLAlchemy.

    The same instant bound again (a write binds its time several times) gives the same text.
    """
    statements = DriverStatements(engine.dialect)
    in_moscow = datetime(2026, 12, 4, 17, 30, 1, 123456, tzinfo=timezone(timedelta(hours=3)))
    on_the_hour = datetime(2026, 12, 4, 15, 0, tzinfo=UTC)
    with engine.connect() as connection:
        driver = driver_of(connection)
        for thing, at in (("a", in_moscow), ("b", on_the_hour), ("c", in_moscow)):
            statements.run(driver, INSERT, {"id": thing, "count": 1, "seen_at": at, "hidden": False, "blob": b""})
        connection.execute(insert(things), {"id": "d", "count": 1, "seen_at": in_moscow, "hidden": False, "blob": b""})
        stored = connection.execute(text("SELECT id, seen_at FROM things ORDER BY seen_at, id")).all()
        read_back = statements.run(driver, BY_ID, {"id": "a"}).one().seen_at
    assert [tuple(row) for row in stored] == [
        ("a", "2026-12-04 14:30:01.123456"),
        ("c", "2026-12-04 14:30:01.123456"),
        ("d", "2026-12-04 14:30:01.123456"),
        ("b", "2026-12-04 15:00:00.000000"),
    ]
    assert read_back == in_moscow and read_back.tzinfo == UTC


def test_update_returning_and_missing_rows(engine: Engine) -> None:
    """RETURNING gives the new value; a row that is not there gives None, not an error."""
    statements = DriverStatements(engine.dialect)
    with engine.connect() as connection:
        driver = driver_of(connection)
        statements.run(driver, INSERT, {"id": "a", "count": 1, "seen_at": None, "hidden": False, "blob": b""})
        assert statements.run(driver, BUMP, {"thing": "a"}).scalar_one() == 2
        assert statements.run(driver, BUMP, {"thing": "a"}).scalar_one() == 3
        assert statements.run(driver, BUMP, {"thing": "nobody"}).scalar_one_or_none() is None
        assert statements.run(driver, BY_ID, {"id": "a"}).one().seen_at is None


def test_driver_errors_are_sqlalchemy_errors(engine: Engine) -> None:
    """A duplicate key raises SQLAlchemy's IntegrityError, so callers and error handlers see one kind of error."""
    statements = DriverStatements(engine.dialect)
    row = {"id": "a", "count": 1, "seen_at": None, "hidden": False, "blob": b""}
    with engine.connect() as connection:
        driver = driver_of(connection)
        statements.run(driver, INSERT, row)
        with pytest.raises(IntegrityError):
            statements.run(driver, INSERT, row)


def test_a_required_value_left_out_is_refused(engine: Engine) -> None:
    """A missing parameter fails loudly, naming it: an INSERT without `values()` does not leave the column out."""
    statements = DriverStatements(engine.dialect)
    with engine.connect() as connection:
        with pytest.raises(TypeError, match="no value was given for 'id'"):
            statements.run(driver_of(connection), BY_ID, {})
        row = {"id": "a", "count": 1, "seen_at": None, "hidden": False}
        with pytest.raises(TypeError, match="no value was given for 'blob'"):
            statements.run(driver_of(connection), EVERY_COLUMN, row)
        assert connection.execute(select(func.count()).select_from(things)).scalar_one() == 0
