"""Loading a staged cache table in one pass: its indexes and foreign keys dropped first, made again after."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import ForeignKeyConstraint, Table, text
from sqlalchemy.orm import Session
from sqlalchemy.schema import AddConstraint, DropConstraint

from core.dialect import is_sqlite

BULK_CACHE_KB = 131_072


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
