"""Portable SQL: dialect checks and the expressions, upserts and temporary tables that differ between SQLite and
PostgreSQL, written once for every package."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Column, ColumnElement, Engine, MetaData, Table, any_, bindparam, event, func, literal, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import make_url
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql import ClauseElement, Executable


def is_sqlite(bound: Engine | Session | str) -> bool:
    """True when the engine, session or URL points at SQLite."""
    if isinstance(bound, Session):
        return bound.get_bind().dialect.name == "sqlite"
    url = bound.url if isinstance(bound, Engine) else make_url(bound)
    return url.get_backend_name() == "sqlite"


def dialect_name(session: Session) -> str:
    """'sqlite' or 'postgresql'."""
    return session.get_bind().dialect.name


def dialect_insert(session: Session) -> Any:
    """The dialect's `insert` (with `on_conflict_do_*`) for the database behind `session`."""
    if is_sqlite(session):
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert
    from sqlalchemy.dialects.postgresql import insert as pg_insert

    return pg_insert


def greatest(session: Session) -> Any:
    """GREATEST on PostgreSQL, the scalar max() on SQLite."""
    return func.max if is_sqlite(session) else func.greatest


def least(session: Session) -> Any:
    """LEAST on PostgreSQL, the scalar min() on SQLite."""
    return func.min if is_sqlite(session) else func.least


def member(session: Session, column: Any, values: Sequence[Any]) -> Any:
    """`column IN values`; on PostgreSQL `= ANY(array)`: one parameter instead of thousands to bind and parse."""
    if not is_sqlite(session):
        return column == any_(bindparam(None, list(values), type_=ARRAY(column.type)))
    return column.in_(values)


def json_object(session: Session, **pairs: Any) -> ColumnElement[Any]:
    """A JSON object built in SQL from column expressions or literals."""
    args: list[Any] = []
    for key, value in pairs.items():
        args.extend([literal(key), value if isinstance(value, ColumnElement) else literal(value)])
    if is_sqlite(session):
        return func.json_object(*args)
    return func.jsonb_build_object(*args)


def rowcount(result: Any) -> int:
    """Rows an UPDATE/DELETE/INSERT changed (Session.execute types its result without `rowcount`)."""
    return int(getattr(result, "rowcount", 0) or 0)


SQLiteFunction = tuple[str, int, Any]  # name, number of arguments, Python callable


def ensure_sqlite_functions(session: Session, functions: tuple[SQLiteFunction, ...]) -> None:
    """Make deterministic Python `functions` callable from SQL on this session's SQLite connection and on every
    future connection of its engine (no-op on other databases, which compute the same in SQL)."""
    bind = session.get_bind()
    engine = bind if isinstance(bind, Engine) else bind.engine
    if engine.dialect.name != "sqlite":
        return

    def register(dbapi_connection: Any, *_: Any) -> None:
        for name, arity, function in functions:
            dbapi_connection.create_function(name, arity, function, deterministic=True)

    key = tuple(name for name, _, _ in functions)
    registered: set[tuple[str, ...]] = engine.__dict__.setdefault("_relance_sqlite_functions", set())
    if key not in registered:
        event.listen(engine, "connect", register)
        registered.add(key)
    register(session.connection().connection.driver_connection)


# Temporary tables -------------------------------------------------------------------------------------------------


def _qualified(session: Session, name: str) -> str:
    # Qualified so that a DROP can never reach a permanent table of the same name.
    return f"temp.{name}" if is_sqlite(session) else f"pg_temp.{name}"


def create_temporary(session: Session, name: str, *columns: Column[Any]) -> Table:
    """A fresh, empty temporary table on the session's connection (one left over by an earlier use is dropped)."""
    connection = session.connection()
    connection.execute(text(f"DROP TABLE IF EXISTS {_qualified(session, name)}"))
    table = Table(name, MetaData(), *columns, prefixes=["TEMPORARY"])
    table.create(connection)
    return table


def drop_temporary(session: Session, table: Table | str) -> None:
    """Drop a temporary table made by `create_temporary` or `create_temporary_as`."""
    name = table if isinstance(table, str) else table.name
    session.connection().execute(text(f"DROP TABLE IF EXISTS {_qualified(session, name)}"))


@contextmanager
def temporary(session: Session, name: str, *columns: Column[Any]) -> Iterator[Table]:
    """A fresh temporary table for the block, dropped once it is done (on an error the rollback drops it on
    PostgreSQL; on SQLite the next use drops what was left)."""
    table = create_temporary(session, name, *columns)
    yield table
    drop_temporary(session, table)


class _CreateTemporaryAs(Executable, ClauseElement):
    """`CREATE TEMPORARY TABLE name AS <select>`, the select's values still bound parameters."""

    inherit_cache = False

    def __init__(self, name: str, query: Any) -> None:
        self.name, self.query = name, query


@compiles(_CreateTemporaryAs)
def _compile_create_temporary_as(element: _CreateTemporaryAs, compiler: Any, **kw: Any) -> str:
    return f"CREATE TEMPORARY TABLE {element.name} AS {compiler.process(element.query, **kw)}"


def create_temporary_as(session: Session, name: str, query: Any) -> None:
    """A temporary table holding the rows of `query` (CREATE TABLE AS lets PostgreSQL use parallel workers, which
    an INSERT … SELECT cannot)."""
    drop_temporary(session, name)
    session.execute(_CreateTemporaryAs(name, query))


def analyze(session: Session, table: Table | str) -> None:
    """Give the planner a temporary table's statistics (they are never analysed on their own)."""
    name = table if isinstance(table, str) else table.name
    session.connection().execute(text(f"ANALYZE {_qualified(session, name)}"))
