"""The contact import pipeline: stream a file, normalise, resolve identities and write in batches."""

from __future__ import annotations

import csv
import gc
import multiprocessing
import os
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from itertools import chain, islice
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from contacts.bulk import add_tags, apply_consents, insert_contacts, link_accounts, update_contacts
from contacts.fastsql import lean_gc
from contacts.mapping import Mapping
from contacts.readers import open_table
from contacts.resolve import Aliases, BatchResolver, Entity, load_aliases
from contacts.rows import ParsedRow, RowError, RowParser, postal_key
from core.models import Contact, Suppression
from core.signing import hash_address

BATCH_SIZE = 5000
SQLITE_CACHE_KIB = 65536
SAMPLE_ERRORS = 50
REPORT_COLUMNS = ("line", "column", "value", "reason")


@dataclass
class ImportSummary:
    """What an import did. Every row read is exactly one of created, merged, updated, unchanged, rejected."""

    file: str
    encoding: str | None = None
    delimiter: str | None = None
    columns: dict[str, str] = field(default_factory=dict)
    rows_read: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    merged: int = 0
    rejected: int = 0
    errors: int = 0
    error_samples: list[dict[str, Any]] = field(default_factory=list)
    report: str | None = None
    dry_run: bool = False
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class ErrorSink:
    """Collects rejected-row errors: counts them, keeps a sample and streams them to the report CSV."""

    def __init__(self, summary: ImportSummary, report: Path | None) -> None:
        self.summary = summary
        self._handle: IO[str] | None = None
        self._writer: Any = None
        if report is not None:
            self._handle = report.open("w", encoding="utf-8-sig", newline="")
            self._writer = csv.writer(self._handle)
            self._writer.writerow(REPORT_COLUMNS)
            summary.report = str(report)

    def reject(self, errors: list[RowError]) -> None:
        self.summary.rejected += 1
        for error in errors:
            self.summary.errors += 1
            if len(self.summary.error_samples) < SAMPLE_ERRORS:
                self.summary.error_samples.append(asdict(error))
            if self._writer is not None:
                self._writer.writerow((error.line, error.column, error.value, error.reason))

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()


def import_contacts(
    engine: Engine,
    path: Path,
    *,
    mapping: Mapping | None = None,
    default_region: str = "FR",
    report: Path | None = None,
    dry_run: bool = False,
    batch_size: int = BATCH_SIZE,
    on_progress: Callable[[int], None] | None = None,
    workers: int | None = None,
) -> ImportSummary:
    """Import contacts from a CSV/XLSX file; bad rows are reported, never fatal. Re-running changes nothing."""
    started = time.perf_counter()
    table = open_table(path)
    parser = RowParser(table.headers, mapping or Mapping(), default_region=default_region)
    summary = ImportSummary(file=path.name, encoding=table.encoding, delimiter=table.delimiter, dry_run=dry_run,
                            columns={table.headers[index]: target for index, target in parser.targets.items()})
    sink = ErrorSink(summary, report)
    try:
        with lean_gc(), _import_session(engine) as session:
            _run(session, table.rows, parser, summary, sink, batch_size=batch_size, dry_run=dry_run,
                 on_progress=on_progress, workers=default_workers() if workers is None else workers)
    finally:
        sink.close()
    summary.seconds = round(time.perf_counter() - started, 3)
    return summary


# SQLite settings of the import's connection, put back after: a larger page cache (index inserts stay off the
# disk), fewer write-ahead log checkpoints, and no foreign-key lookups — every id the import writes was read or
# created in the same write transaction (SQLite refuses to write from a stale snapshot), so they hold by
# construction, and PostgreSQL, which keeps checking them, runs the same code in the suite.
SQLITE_IMPORT_PRAGMAS = {"cache_size": -SQLITE_CACHE_KIB, "wal_autocheckpoint": 20000, "foreign_keys": 0}


@contextmanager
def _import_session(engine: Engine) -> Iterator[Session]:
    """A session on one connection for the whole import, with SQLITE_IMPORT_PRAGMAS on SQLite."""
    with engine.connect() as connection:
        tuned = SQLITE_IMPORT_PRAGMAS if engine.dialect.name == "sqlite" else {}
        saved = {name: int(connection.exec_driver_sql(f"PRAGMA {name}").scalar() or 0) for name in tuned}
        for name, value in tuned.items():  # outside any transaction: foreign_keys is ignored inside one
            connection.exec_driver_sql(f"PRAGMA {name} = {value}")
        connection.commit()  # end the autobegun transaction: the session's commits must be real ones
        session = Session(bind=connection, expire_on_commit=False)
        try:
            yield session
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()
            for name, value in saved.items():
                connection.exec_driver_sql(f"PRAGMA {name} = {value}")
            connection.commit()


def _run(session: Session, rows: Iterator[tuple[int, list[str]]], parser: RowParser, summary: ImportSummary,
         sink: ErrorSink, *, batch_size: int, dry_run: bool, on_progress: Callable[[int], None] | None,
         workers: int) -> None:
    """The batches of one import, each committed (or, in a dry run, flushed and finally rolled back)."""
    known = _Known.load(session, source=f"import:{summary.file}")
    for batch in _batches(rows, parser, batch_size, workers):
        _import_batch(session, batch, summary, sink, known)
        if dry_run:
            session.flush()
        else:
            session.commit()
        if on_progress is not None:
            on_progress(len(batch))
    if dry_run:
        session.rollback()


def _chunks(rows: Iterator[tuple[int, list[str]]], size: int) -> Iterator[list[tuple[int, list[str]]]]:
    while chunk := list(islice(rows, size)):
        yield chunk


def _batches(rows: Iterator[tuple[int, list[str]]], parser: RowParser, size: int,
             workers: int) -> Iterator[list[ParsedRow]]:
    """Parsed batches in file order; files of more than two batches are parsed in worker processes."""
    chunks = _chunks(rows, size)
    head = list(islice(chunks, 2))
    if workers < 1 or len(head) < 2:
        for chunk in chain(head, chunks):
            yield [parser.parse(line, cells) for line, cells in chunk]
        return
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    # ProcessPoolExecutor (not Pool): a worker that dies raises BrokenProcessPool instead of hanging.
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker, initargs=(parser,)) as pool:
        pending: deque[Future[list[tuple[Any, ...]]]] = deque()
        for chunk in chain(head, chunks):  # bounded read-ahead keeps memory flat
            pending.append(pool.submit(_parse_chunk, chunk))
            if len(pending) > 2 * workers:
                yield [ParsedRow.from_wire(wire) for wire in pending.popleft().result()]
        while pending:
            yield [ParsedRow.from_wire(wire) for wire in pending.popleft().result()]


_worker_parser: RowParser | None = None


def _init_worker(parser: RowParser) -> None:
    global _worker_parser
    _worker_parser = parser
    gc.freeze()  # a parsing process lives for one import: see fastsql.lean_gc
    gc.set_threshold(100_000, 50, 1000)


def _parse_chunk(chunk: list[tuple[int, list[str]]]) -> list[tuple[Any, ...]]:
    assert _worker_parser is not None
    return [_worker_parser.parse(line, cells).to_wire() for line, cells in chunk]


def default_workers() -> int:
    """Parsing processes next to the writer: one per spare core, at most two."""
    return max(0, min(2, (os.cpu_count() or 1) - 1))


@dataclass(frozen=True)
class _Known:
    """What an import reads once, before its first batch."""

    source: str
    max_before: int  # contacts above this id were created by this import
    aliases: Aliases  # emails / external ids of merged-away contacts → survivor
    erased: frozenset[tuple[str, str]]  # (channel, address hash) of people erased under GDPR

    @classmethod
    def load(cls, session: Session, *, source: str) -> _Known:
        max_before = session.scalar(select(func.max(Contact.id))) or 0
        erased = frozenset(session.execute(
            select(Suppression.channel, Suppression.address_hash).where(Suppression.reason == "erased")).tuples())
        return cls(source, max_before, load_aliases(session) if max_before else {}, erased)


def _import_batch(session: Session, rows: list[ParsedRow], summary: ImportSummary, sink: ErrorSink,
                  known: _Known) -> None:
    summary.rows_read += len(rows)
    valid = []
    for row in rows:
        if row.errors:
            sink.reject(row.errors)
        else:
            valid.append(row)
    if known.erased:
        valid = _drop_erased(valid, sink, known.erased)
    resolver = BatchResolver(session, known.aliases)
    touched = resolver.resolve(valid)
    for error in resolver.rejected:
        sink.reject([error])
    new = [entity for entity in touched if entity.id is None]
    for entity in new:
        entity.fields.setdefault("source", known.source)
    link_accounts(session, touched)
    changed = [entity for entity in touched if entity.id is not None and entity.snapshot() != entity.original]
    insert_contacts(session, new)
    update_contacts(session, changed)
    gained_tags = add_tags(session, touched)
    consented = apply_consents(session, touched, default_source=known.source)
    _count(summary, touched, new, {id(entity) for entity in changed}, gained_tags | consented, known.max_before)


def _drop_erased(rows: list[ParsedRow], sink: ErrorSink, erased: frozenset[tuple[str, str]]) -> list[ParsedRow]:
    """Rows of people erased under GDPR are refused: their hashed addresses (email, phone, postal address) are
    kept for exactly this."""
    kept = []
    for row in rows:
        for channel, column, address in _erasable_addresses(row):
            if (channel, hash_address(channel, address)) in erased:
                sink.reject([RowError(row.line, column, address, f"this {column} belongs to a person erased under "
                                                                 "GDPR: remove them from the source file")])
                break
        else:
            kept.append(row)
    return kept


def _erasable_addresses(row: ParsedRow) -> Iterator[tuple[str, str, str]]:
    """(suppression channel, column, address) of the row, hashed as erasure keeps them."""
    fields = row.fields
    if fields.get("email"):
        yield "email", "email", fields["email"]
    if fields.get("phone"):
        yield "sms", "phone", fields["phone"]
    if not (fields.get("email") or fields.get("phone") or fields.get("external_id")):
        key = postal_key(fields)
        if key:
            yield "mail", "address", key


def _count(summary: ImportSummary, touched: list[Entity], new: list[Entity], changed: set[int],
           side_changes: set[int], max_before: int) -> None:
    new_ids = {id(entity) for entity in new}
    for entity in touched:
        if id(entity) in new_ids:
            summary.created += 1
            summary.merged += entity.rows - 1
        elif (entity.id or 0) > max_before:
            summary.merged += entity.rows
        else:
            if id(entity) in changed or entity.id in side_changes:
                summary.updated += 1
            else:
                summary.unchanged += 1
            summary.merged += entity.rows - 1
