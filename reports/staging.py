"""Temporary tables for the cache updates that take several statements (stage the rows, then apply them)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Column, ForeignKeyConstraint, MetaData, Table, text
from sqlalchemy.orm import Session
from sqlalchemy.schema import AddConstraint, DropConstraint

from reports.sql import is_sqlite

BULK_CACHE_KB = 131_072


def _qualified(session: Session, name: str) -> str:
    # Qualified so that a DROP can never reach a permanent table of the same name.
    return f"temp.{name}" if is_sqlite(session) else f"pg_temp.{name}"


@contextmanager
def temporary(session: Session, name: str, *columns: Column[Any]) -> Iterator[Table]:
    """A fresh temporary table on the session's connection, dropped once the block is done (on an error the
    rollback drops it on PostgreSQL; on SQLite the next use drops what was left)."""
    connection = session.connection()
    connection.execute(text(f"DROP TABLE IF EXISTS {_qualified(session, name)}"))
    table = Table(name, MetaData(), *columns, prefixes=["TEMPORARY"])
    table.create(connection)
    yield table
    connection.execute(text(f"DROP TABLE IF EXISTS {_qualified(session, name)}"))


def analyze(session: Session, table: Table) -> None:
    """Give the planner the staged table's statistics (temporary tables are never analysed on their own)."""
    session.connection().execute(text(f"ANALYZE {_qualified(session, table.name)}"))


@contextmanager
def bulk_load(session: Session, table: Table) -> Iterator[None]:
    """Load many rows into `table` as a restore would: its secondary indexes (and, on PostgreSQL, its foreign keys,
    checked by a trigger per row) dropped first, then made again in one pass each. Other writers and readers of
    the table wait until the transaction ends."""
    connection = session.connection()
    if is_sqlite(session):  # a page cache that holds the indexes being written (the default is 2 MB)
        cache_size = int(connection.exec_driver_sql("PRAGMA cache_size").scalar() or 0)
        connection.exec_driver_sql(f"PRAGMA cache_size = -{BULK_CACHE_KB}")
    else:  # hash joins and sorts of the whole load in memory, not in batches on disk
        connection.execute(text("SET LOCAL work_mem = '128MB'"))
    keys = [] if is_sqlite(session) else [
        constraint for constraint in table.constraints if isinstance(constraint, ForeignKeyConstraint)]
    for constraint in keys:
        connection.execute(DropConstraint(constraint))
    for index in table.indexes:
        index.drop(connection)
    yield
    for index in table.indexes:
        index.create(connection)
    for constraint in keys:
        connection.execute(AddConstraint(constraint))
    if is_sqlite(session):
        connection.exec_driver_sql(f"PRAGMA cache_size = {cache_size}")
