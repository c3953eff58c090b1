"""Hot statements built once, compiled once by SQLAlchemy, and run straight through the driver.

A cart write runs about nine statements. On a local SQLite file each takes 2-4 µs in sqlite3 itself, while
SQLAlchemy's execution around it (execution context, parameter and result processing, the compiled-cache lookup)
took another ~18 µs: most of the writer's time (BENCHMARKS.md, issue 8). On PostgreSQL the async adapter adds a
greenlet hop and a lock per statement on top. A statement marked with `prepared(...)` is still written and compiled
by SQLAlchemy Core, with the column types' own bind and result processors, but the writers and the point readers
run its compiled SQL on the driver's connection themselves: sqlite3's, or asyncpg's (which keeps each connection's
server-side prepared statements). A driver error is raised as the SQLAlchemy exception it would have been.
"""

from __future__ import annotations

import sqlite3
from collections import namedtuple
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NoReturn, Protocol, TypeVar, cast

from sqlalchemy import bindparam
from sqlalchemy.exc import DBAPIError, MultipleResultsFound, NoResultFound

if TYPE_CHECKING:
    import asyncpg
    from sqlalchemy import Table
    from sqlalchemy.engine import Dialect, Row
    from sqlalchemy.sql.base import Executable
    from sqlalchemy.sql.compiler import SQLCompiler
    from sqlalchemy.sql.elements import BindParameter, ClauseElement

S = TypeVar("S", bound="Executable")


_PREPARED: dict[int, Executable] = {}
"""Every prepared statement by id; holding them keeps each id theirs, so a lookup by id is exact."""


def prepared(statement: S) -> S:
    """Mark a statement built once at import (not per call) as safe to compile once and run on the driver.

    It is compiled once, without the names of the parameters it runs with (SQLAlchemy would add each one that
    matches a column to the SET of every UPDATE in the statement, those inside its CTEs too), so an INSERT or UPDATE
    gives each column it writes its value: a named parameter (`named_values`), a literal or an expression. One that
    gives none makes every column of its table a parameter, and the run that lacks one is refused.
    """
    _PREPARED[id(statement)] = statement
    return statement


def named_values(table: Table, *columns: str, prefix: str = "") -> dict[str, BindParameter[Any]]:
    """`values()` for these columns, each a parameter named `prefix` + column, with the column's type (`prepared`)."""
    return {name: bindparam(prefix + name, type_=table.c[name].type) for name in columns}


def is_prepared(statement: Executable) -> bool:
    """Asked of every statement the SQLite writer runs: a dict lookup, where reading its options cost ~2 µs."""
    return id(statement) in _PREPARED


class Rows(Protocol):
    """What callers read from a statement's result: SQLAlchemy's CursorResult, or a DriverResult."""

    @property
    def rowcount(self) -> int: ...

    def one(self) -> Row[Any]: ...

    def one_or_none(self) -> Row[Any] | None: ...

    def first(self) -> Row[Any] | None: ...

    def all(self) -> Sequence[Row[Any]]: ...

    def scalar_one(self) -> Any: ...

    def scalar_one_or_none(self) -> Any: ...

    def scalars(self) -> Iterator[Any]: ...


class DriverResult:
    """The rows of a statement run on the driver, with the result methods the services call.

    Its rows are named tuples: by position and by column name, like SQLAlchemy's Row.
    """

    __slots__ = ("_rows", "rowcount")

    def __init__(self, rows: list[Any], rowcount: int) -> None:
        self._rows = rows
        self.rowcount = rowcount

    def all(self) -> list[Any]:
        return self._rows

    def first(self) -> Any:
        return self._rows[0] if self._rows else None

    def one_or_none(self) -> Any:
        if len(self._rows) > 1:
            raise MultipleResultsFound("Multiple rows were found when one or none was required")
        return self.first()

    def one(self) -> Any:
        row = self.one_or_none()
        if row is None:
            raise NoResultFound("No row was found when one was required")
        return row

    def scalar_one_or_none(self) -> Any:
        row = self.one_or_none()
        return None if row is None else row[0]

    def scalar_one(self) -> Any:
        return self.one()[0]

    def scalars(self) -> Iterator[Any]:
        return (row[0] for row in self._rows)


class _Compiled:
    """One statement's SQL for the driver, how to bind each positional parameter, and how to read each column."""

    def __init__(self, statement: Executable, dialect: Dialect) -> None:
        clause = cast("ClauseElement", statement)
        compiled = cast("SQLCompiler", clause.compile(dialect=dialect))
        if compiled.positiontup is None:
            raise ValueError("the driver path needs a positional paramstyle")
        if getattr(compiled, "insert_prefetch", None) or getattr(compiled, "update_prefetch", None):
            raise ValueError("a prepared statement cannot rely on Python-side column defaults: pass every value")
        self.sql = compiled.string
        names: list[str] = []
        self._defaults: dict[str, Any] = {}
        self._bind_processors: list[tuple[int, Callable[[Any], Any]]] = []
        for position, name in enumerate(compiled.positiontup):
            bind = compiled.binds[name]
            if bind.expanding or bind.callable is not None:
                raise ValueError(f"a prepared statement cannot take the expanding or computed parameter {name!r}")
            if not bind.required:
                self._defaults[name] = bind.value
            names.append(name)
            processor = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if processor is not None:
                self._bind_processors.append((position, processor))
        self._names = tuple(names)
        columns = list(statement.exported_columns) if hasattr(statement, "exported_columns") else []
        self.row_type: Any = namedtuple("Row", [column.key for column in columns]) if columns else None
        self._readers: list[tuple[int, Callable[[Any], Any]]] = []
        for position, column in enumerate(columns):
            reader = column.type.dialect_impl(dialect).result_processor(dialect, None)
            if reader is not None:
                self._readers.append((position, reader))

    def parameters(self, given: Mapping[str, Any]) -> list[Any]:
        """The positional values, each through its type's processor (the loops run over the few that have one)."""
        if self._defaults:
            given = {**self._defaults, **given}
        try:
            values = [given[name] for name in self._names]
        except KeyError as missing:
            raise TypeError(f"no value was given for {missing.args[0]!r} of: {self.sql}") from None
        for position, processor in self._bind_processors:
            values[position] = processor(values[position])
        return values

    def read(self, raw: list[tuple[Any, ...]]) -> list[Any]:
        row_type = self.row_type
        assert row_type is not None
        if not self._readers:
            return [row_type._make(row) for row in raw]
        rows = []
        for row in raw:
            values = list(row)
            for position, read in self._readers:
                values[position] = read(values[position])
            rows.append(row_type._make(values))
        return rows


class _Statements:
    """Prepared statements compiled for one dialect, each once."""

    def __init__(self, dialect: Dialect) -> None:
        self._dialect = dialect
        self._compiled: dict[Executable, _Compiled] = {}

    def _compiled_for(self, statement: Executable) -> _Compiled:
        compiled = self._compiled.get(statement)
        if compiled is None:
            compiled = self._compiled[statement] = _Compiled(statement, self._dialect)
        return compiled


class DriverStatements(_Statements):
    """SQLite: run on a sqlite3 connection."""

    def run(self, driver: sqlite3.Connection, statement: Executable, parameters: Mapping[str, Any]) -> DriverResult:
        compiled = self._compiled_for(statement)
        values = compiled.parameters(parameters)
        try:
            cursor = driver.execute(compiled.sql, values)
            raw = cursor.fetchall()
        except sqlite3.Error as exc:  # the same exception classes SQLAlchemy would raise (IntegrityError, ...)
            raise DBAPIError.instance(compiled.sql, values, exc, sqlite3.Error) from exc
        rows = compiled.read(raw) if compiled.row_type is not None else []
        return DriverResult(rows, cursor.rowcount)


class AsyncpgStatements(_Statements):
    """PostgreSQL: run on an asyncpg connection, inside whatever transaction it is in (or none: autocommit)."""

    async def run(
        self, driver: asyncpg.Connection, statement: Executable, parameters: Mapping[str, Any]
    ) -> DriverResult:
        compiled = self._compiled_for(statement)
        values = compiled.parameters(parameters)
        try:
            if compiled.row_type is None:  # no rows to read: the status tag ("UPDATE 1") says how many it touched
                status = await driver.execute(compiled.sql, *values)
                return DriverResult([], int(status.rpartition(" ")[2] or 0))
            raw = await driver.fetch(compiled.sql, *values)
        except Exception as exc:
            self._raise_as_sqlalchemy_error(compiled.sql, values, exc, driver)
        return DriverResult(compiled.read(raw), len(raw))

    async def control(self, driver: asyncpg.Connection, sql: str) -> str:
        """Send a transaction's BEGIN or COMMIT, its errors raised as `run`'s; PostgreSQL's answer ("COMMIT", ...)."""
        try:
            answer: str = await driver.execute(sql)
        except Exception as exc:
            self._raise_as_sqlalchemy_error(sql, [], exc, driver)
        return answer

    def _raise_as_sqlalchemy_error(
        self, sql: str, values: list[Any], exc: Exception, driver: asyncpg.Connection
    ) -> NoReturn:
        """Raise what SQLAlchemy's asyncpg adapter would have: IntegrityError for a unique violation, and so on.

        An error the adapter passes on as it is (an OSError of the socket, say) is raised as it is.
        """
        dbapi = self._dialect.loaded_dbapi
        translate: dict[type[Exception], type[Exception]] = dbapi._asyncpg_error_translate
        adapted_class = next((translate[kind] for kind in type(exc).__mro__ if kind in translate), None)
        if adapted_class is None:
            raise exc
        adapted = adapted_class(exc.args[0] if exc.args else str(exc), exc)
        invalidated = driver.is_closed()
        raise DBAPIError.instance(sql, values, adapted, dbapi.Error, connection_invalidated=invalidated) from exc
