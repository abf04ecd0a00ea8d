"""Bulk statements straight on the driver for the hot paths (import, feedback, scoring): multi-row VALUES, COPY, and
COPY through a temporary table for upserts — no per-row ORM/Core processing.

Values are converted here exactly as our column types would store them (UTC datetimes naive on SQLite,
JSON as text), so rows written here read back identically through the models.
"""

from __future__ import annotations

import gc
import itertools
import json
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import lru_cache
from itertools import chain
from typing import Any

from sqlalchemy.orm import Session

_PLAIN = frozenset({str, int, float, type(None), bool})
# Parameters per statement: SQLite allows 32766, PostgreSQL 65535; stay well below both.
MAX_PARAMETERS = 30000
_temp_names = itertools.count()


class Bulk:
    """Multi-row INSERT/UPDATE statements for one session's connection, in the dialect's placeholders."""

    def __init__(self, session: Session) -> None:
        self.connection = session.connection()
        self.sqlite = self.connection.dialect.name == "sqlite"
        self.mark = "?" if self.sqlite else "%s"
        self._last_datetime: datetime | None = None
        self._last_converted: Any = None

    def value(self, value: Any) -> Any:
        """A Python value as the driver must receive it for our column types."""
        kind = type(value)
        if value is None or kind is str or kind is int:
            return value
        if kind is datetime:
            if value is not self._last_datetime:  # batches repeat the same `now` many times
                self._last_datetime, self._last_converted = value, self._datetime(value)
            return self._last_converted
        if kind is dict or kind is list:
            return json_text(value)
        if self.sqlite and kind is date:
            return value.isoformat()
        if self.sqlite and kind is Decimal:
            return float(value)
        return value

    def _datetime(self, value: datetime) -> Any:
        return driver_datetime(value, sqlite=self.sqlite)

    def insert(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], *, suffix: str = "",
               returning: str = "", prepared: bool = False) -> list[tuple[Any, ...]]:
        """INSERT rows in multi-row VALUES statements; returns the RETURNING rows (any order). `prepared` rows
        hold driver values already (see `value`), so they are passed as they are."""
        if not rows:
            return []
        group = "(" + ", ".join([self.mark] * len(columns)) + ")"
        head = f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
        tail = (f" {suffix}" if suffix else "") + (f" RETURNING {returning}" if returning else "")
        if not self.sqlite:
            return self._insert_pipelined(head + group + tail, rows, bool(returning), prepared)
        cursor = self.connection.connection.cursor()
        returned: list[tuple[Any, ...]] = []
        try:
            for chunk in _chunks(rows, max(1, MAX_PARAMETERS // len(columns))):
                params = list(chain.from_iterable(chunk)) if prepared else [
                    value if type(value) in _PLAIN else self.value(value) for row in chunk for value in row]
                cursor.execute(head + ", ".join([group] * len(chunk)) + tail, params)
                if returning:
                    returned.extend(tuple(row) for row in cursor.fetchall())
        finally:
            cursor.close()
        return returned

    def insert_ids(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[int]:
        """INSERT prepared rows (see `insert`) and return their new ids in row order.

        SQLite gives the rows of one INSERT consecutive rowids after the largest one (nothing else can write
        during the statement), so each chunk's ids end at the cursor's lastrowid; PostgreSQL returns them."""
        if not rows:
            return []
        if not self.sqlite:
            return [row[0] for row in self.insert(table, columns, rows, returning="id", prepared=True)]
        group = "(" + ", ".join(["?"] * len(columns)) + ")"
        head = f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
        cursor = self.connection.connection.cursor()
        ids: list[int] = []
        try:
            for chunk in _chunks(rows, max(1, MAX_PARAMETERS // len(columns))):
                cursor.execute(head + ", ".join([group] * len(chunk)), list(chain.from_iterable(chunk)))
                last = int(cursor.lastrowid or 0)
                ids.extend(range(last - len(chunk) + 1, last + 1))
        finally:
            cursor.close()
        return ids

    def copy(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        """PostgreSQL: `COPY table (columns) FROM STDIN` of prepared rows — no statement per row, no conflict
        handling (rows must be new)."""
        cursor: Any = self.connection.connection.cursor()
        try:
            with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        finally:
            cursor.close()

    def copy_insert(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], *, suffix: str = "",
                    returning: str = "") -> list[tuple[Any, ...]]:
        """PostgreSQL: COPY `rows` into a temporary table shaped like `table`'s `columns`, then one INSERT … SELECT
        (with `suffix`, e.g. an ON CONFLICT clause); returns the RETURNING rows. A round trip per statement instead
        of one per row, and conflicts handled, which a plain COPY cannot."""
        names = ", ".join(columns)
        temp = f"bulk_copy_{next(_temp_names)}"
        cursor: Any = self.connection.connection.cursor()
        try:
            cursor.execute(f"CREATE TEMPORARY TABLE {temp} ON COMMIT DROP AS SELECT {names} FROM {table} WITH NO DATA")
            with cursor.copy(f"COPY {temp} ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row([value if type(value) in _PLAIN else self.value(value) for value in row])
            tail = f" RETURNING {returning}" if returning else ""
            cursor.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM {temp} {suffix}{tail}")
            returned = [tuple(row) for row in cursor.fetchall()] if returning else []
            cursor.execute(f"DROP TABLE {temp}")
        finally:
            cursor.close()
        return returned

    def load(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """New rows of plain driver values, as fast as each database takes them: COPY on PostgreSQL (an executemany
        of 1,000,000 rows takes 20 s there, COPY about 1 s), executemany on SQLite."""
        if not rows:
            return
        if not self.sqlite:
            self.copy(table, columns, rows)
            return
        cursor = self.connection.connection.cursor()
        try:
            cursor.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
                               rows)
        finally:
            cursor.close()

    def next_ids(self, table: str, count: int) -> list[int]:
        """PostgreSQL: `count` ids taken from the sequence of `table.id`, in increasing order."""
        cursor: Any = self.connection.connection.cursor()
        try:
            cursor.execute("SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
                           [table, count])
            return sorted(row[0] for row in cursor.fetchall())
        finally:
            cursor.close()

    def _insert_pipelined(self, sql: str, rows: Sequence[Sequence[Any]], returning: bool,
                          prepared: bool) -> list[tuple[Any, ...]]:
        """PostgreSQL: one short prepared statement, executemany'd in psycopg's pipeline mode (psycopg would spend
        its time re-parsing a multi-row VALUES statement with thousands of placeholders)."""
        cursor: Any = self.connection.connection.cursor()
        params = rows if prepared else [[value if type(value) in _PLAIN else self.value(value) for value in row]
                                        for row in rows]
        returned: list[tuple[Any, ...]] = []
        try:
            cursor.executemany(sql, params, returning=returning)
            while returning:
                returned.extend(tuple(row) for row in cursor.fetchall())
                if not cursor.nextset():
                    break
        finally:
            cursor.close()
        return returned

    def select_in(self, sql: str, values: Sequence[Any], *, suffix: str = "") -> list[tuple[Any, ...]]:
        """Rows of `sql` (ending in `IN`, e.g. `SELECT id FROM contacts WHERE email IN`) for many values; `suffix`
        ends the statement (e.g. a locking clause)."""
        cursor = self.connection.connection.cursor()
        found: list[tuple[Any, ...]] = []
        try:
            if not self.sqlite:  # one array parameter: a short, cacheable statement
                assert sql.endswith(" IN")
                cursor.execute(f"{sql[:-3]} = ANY(%s){suffix}", [list(values)])
                return [tuple(row) for row in cursor.fetchall()]
            for chunk in _chunks(list(values), MAX_PARAMETERS):
                cursor.execute(f"{sql} ({', '.join([self.mark] * len(chunk))}){suffix}", chunk)
                found.extend(tuple(row) for row in cursor.fetchall())
        finally:
            cursor.close()
        return found

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run one statement (written with `?` placeholders) for every row."""
        if not rows:
            return
        statement = sql if self.sqlite else sql.replace("?", "%s")
        cursor = self.connection.connection.cursor()
        try:
            cursor.executemany(statement, [[value if type(value) in _PLAIN else self.value(value) for value in row]
                                           for row in rows])
        finally:
            cursor.close()


def driver_datetime(value: datetime, *, sqlite: bool) -> Any:
    """A datetime as the driver must receive it (naive UTC text on SQLite, aware on PostgreSQL)."""
    if sqlite:
        return _sqlite_datetime(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def json_text(value: Any) -> str:
    """JSON as our JSON columns store it (values JSON has no type for, such as Decimal, as their text)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


@contextmanager
def lean_gc() -> Iterator[None]:
    """Fewer cyclic garbage collections during bulk work: the objects that exist already (modules, mappers) are
    frozen out of every pass, and a pass runs every 100,000 allocations instead of 700. Rows are acyclic and freed
    by reference counting, so memory stays flat; imports spent a third of their time in collections otherwise."""
    thresholds = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(100_000, 50, 1000)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


@lru_cache(maxsize=8192)  # imported files repeat the same dates (opt-in dates, import time) row after row
def _sqlite_datetime(value: datetime) -> str:
    naive = (value.astimezone(UTC) if value.tzinfo else value).replace(tzinfo=None)
    return naive.isoformat(sep=" ", timespec="microseconds")


def _chunks(rows: Sequence[Any], limit: int) -> list[Sequence[Any]]:
    """Full chunks of `limit`, then power-of-two sized ones: few distinct statement shapes, so the driver's
    prepared-statement cache stays small (memory stays flat) and is reused."""
    chunks: list[Sequence[Any]] = []
    start = 0
    while len(rows) - start >= limit:
        chunks.append(rows[start:start + limit])
        start += limit
    size = 1 << max(0, (limit.bit_length() - 1))
    while start < len(rows):
        while size > len(rows) - start:
            size >>= 1
        chunks.append(rows[start:start + size])
        start += size
    return chunks
