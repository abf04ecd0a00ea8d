"""Engines and sessions that behave the same on SQLite (the embedded default) and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker


def is_sqlite(engine_or_url: Engine | str) -> bool:
    """True when the engine or URL points at SQLite."""
    url = engine_or_url.url if isinstance(engine_or_url, Engine) else make_url(engine_or_url)
    return url.get_backend_name() == "sqlite"


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers (dashboard, web) work while a flow writes; foreign keys are off by default.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for `url`; SQLite gets WAL, foreign keys and a busy timeout."""
    if is_sqlite(url):
        kwargs.setdefault("connect_args", {"check_same_thread": False, "timeout": 30})
        engine = create_engine(url, **kwargs)
        event.listen(engine, "connect", _configure_sqlite)
        _functions_of(engine)  # the listener that registers SQL functions on new connections, added up front
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


@lru_cache(maxsize=8)
def shared_engine(url: str) -> Engine:
    """One engine — one connection pool — per database for the whole process (the CLI, every task of a worker)."""
    return make_engine(url)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """A session factory bound to `engine` that keeps objects usable after commit."""
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session committed on success and rolled back on error."""
    session = session_factory(engine)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def dialect_insert(session: Session) -> Any:
    """The dialect's `insert` (with `on_conflict_do_*`) for the database behind `session`."""
    if session.get_bind().dialect.name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert
    from sqlalchemy.dialects.postgresql import insert as pg_insert

    return pg_insert


def greatest(session: Session) -> Any:
    """GREATEST on PostgreSQL, the scalar max() on SQLite."""
    from sqlalchemy import func

    return func.max if session.get_bind().dialect.name == "sqlite" else func.greatest


def least(session: Session) -> Any:
    """LEAST on PostgreSQL, the scalar min() on SQLite."""
    from sqlalchemy import func

    return func.min if session.get_bind().dialect.name == "sqlite" else func.least


SQLiteFunction = tuple[str, int, Any]  # name, number of arguments, Python callable
_REGISTERING = threading.Lock()


def _functions_of(engine: Engine) -> dict[str, SQLiteFunction]:
    """The SQL functions every new connection of this SQLite engine gets, by name. Its one "connect" listener is
    added the first time (at creation for engines of `make_engine`): adding listeners while other threads
    connect would break SQLAlchemy's iteration over them."""
    with _REGISTERING:
        known: dict[str, SQLiteFunction] | None = engine.__dict__.get("_relance_sqlite_functions")
        if known is None:
            known = engine.__dict__["_relance_sqlite_functions"] = {}

            def register_all(dbapi_connection: Any, *_: Any) -> None:
                with _REGISTERING:
                    functions = list(known.values())
                for name, arity, function in functions:
                    dbapi_connection.create_function(name, arity, function, deterministic=True)

            event.listen(engine, "connect", register_all)
        return known


def ensure_sqlite_functions(session: Session, functions: tuple[SQLiteFunction, ...]) -> None:
    """Make deterministic Python `functions` callable from SQL on this session's SQLite connection and on every
    future connection of its engine (no-op on other databases, which compute the same in SQL)."""
    bind = session.get_bind()
    engine = bind if isinstance(bind, Engine) else bind.engine
    if engine.dialect.name != "sqlite":
        return
    known = _functions_of(engine)
    with _REGISTERING:
        known.update({function[0]: function for function in functions})
    connection: Any = session.connection().connection.driver_connection
    for name, arity, function in functions:
        connection.create_function(name, arity, function, deterministic=True)


def rowcount(result: Any) -> int:
    """Rows an UPDATE/DELETE/INSERT changed (Session.execute types its result without `rowcount`)."""
    return int(getattr(result, "rowcount", 0) or 0)
