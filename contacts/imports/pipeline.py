"""The contact import pipeline: stream a file, normalise, resolve identities and write in batches."""

from __future__ import annotations

import csv
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Connection, Engine, func, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from contacts.imports.identity import Aliases, BatchResolver, Entity, load_aliases
from contacts.imports.known_contacts import add_tags, apply_consents, link_accounts, update_contacts
from contacts.imports.mapping import Mapping
from contacts.imports.new_contacts import create_contacts
from contacts.imports.prepare import SOURCE_LENGTH, Preparation, PreparedBatch, prepared_columns
from contacts.imports.readers import open_table
from contacts.imports.rows import RowError, RowParser
from contacts.imports.workers import default_workers, prepared_batches
from core.bulk import lean_gc
from core.dialect import is_sqlite
from core.models import Contact, Suppression

BATCH_SIZE = 5000
# SQLite commits every this many rows: each commit writes every index page the transaction touched to the
# write-ahead log, and the pages of random-key indexes (emails) are touched again by every batch.
COMMIT_ROWS = 25_000
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
            known = _Known.load(session, source=f"import:{summary.file}", columns=prepared_columns(parser))
            batches = prepared_batches(table, path, parser, known.preparation(), batch_size=batch_size,
                                       workers=default_workers() if workers is None else workers)
            _run(session, batches, summary, sink, known, dry_run=dry_run, on_progress=on_progress)
    finally:
        sink.close()
    summary.seconds = round(time.perf_counter() - started, 3)
    return summary


# SQLite settings of the import's connection, put back after: a larger page cache (index inserts stay off the
# disk), fewer write-ahead log checkpoints, and no foreign-key lookups — every id the import writes was read or
# created in the same write transaction (SQLite refuses to write from a stale snapshot), so they hold by
# construction, and PostgreSQL, which keeps checking them, runs the same code in the suite.
SQLITE_IMPORT_PRAGMAS = {"cache_size": -SQLITE_CACHE_KIB, "wal_autocheckpoint": 20000, "foreign_keys": 0}


# PostgreSQL settings of the import's session, reset after: commits do not wait for the disk (a crash may lose the
# last batches, never corrupt anything, and re-running the import redoes exactly them), and no JIT compilation of
# the set statements (it costs more than it saves at batch size).
POSTGRES_IMPORT_SETTINGS = {"synchronous_commit": "off", "jit": "off"}

# And, when the database role may set it (a superuser, or `GRANT SET ON PARAMETER session_replication_role`), no
# foreign-key triggers: a check per inserted row and foreign key was a third of a 1M-row import. The ids hold by
# construction — every row the import writes references a contact, tag or account it created or read in the same
# transaction, and the existing contacts it read are locked FOR KEY SHARE until the batch commits (what the
# triggers would have done), so an erasure or merge running meanwhile waits instead of leaving orphans.
NO_TRIGGERS = ("session_replication_role", "replica")
TRIGGERS_OFF = "relance.import_triggers_off"


@contextmanager
def _import_session(engine: Engine) -> Iterator[Session]:
    """A session on one connection for the whole import, with the import settings of its database."""
    with engine.connect() as connection:
        sqlite = is_sqlite(engine)
        tuned = SQLITE_IMPORT_PRAGMAS if sqlite else {}
        saved = {name: int(connection.exec_driver_sql(f"PRAGMA {name}").scalar() or 0) for name in tuned}
        for name, value in tuned.items():  # outside any transaction: foreign_keys is ignored inside one
            connection.exec_driver_sql(f"PRAGMA {name} = {value}")
        for name, setting in ({} if sqlite else POSTGRES_IMPORT_SETTINGS).items():
            connection.exec_driver_sql(f"SET {name} = {setting}")
        triggers_off = not sqlite and _try_setting(connection, *NO_TRIGGERS)
        connection.commit()  # end the autobegun transaction: the session's commits must be real ones
        session = Session(bind=connection, expire_on_commit=False, info={TRIGGERS_OFF: triggers_off})
        try:
            yield session
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()
            _restore(connection, saved, [] if sqlite else [*POSTGRES_IMPORT_SETTINGS, *[NO_TRIGGERS[0]] * triggers_off])


def _restore(connection: Connection, pragmas: dict[str, int], settings: list[str]) -> None:
    """Put the connection's settings back before it returns to the pool — or, if that fails, never let it return:
    another session must not inherit an import's settings (foreign-key triggers off above all)."""
    try:
        for name, value in pragmas.items():
            connection.exec_driver_sql(f"PRAGMA {name} = {value}")
        for name in settings:
            connection.exec_driver_sql(f"RESET {name}")
        connection.commit()
    except BaseException:
        connection.invalidate()
        raise


def _try_setting(connection: Connection, name: str, value: str) -> bool:
    """SET `name` for the session when the role may; False (and nothing changed) when it may not."""
    try:
        with connection.begin_nested():
            connection.exec_driver_sql(f"SET {name} = {value}")
    except DBAPIError as exc:
        if getattr(exc.orig, "sqlstate", None) != "42501":  # insufficient_privilege
            raise
        return False
    return True


def _run(session: Session, batches: Iterator[PreparedBatch], summary: ImportSummary, sink: ErrorSink,
         known: _Known, *, dry_run: bool, on_progress: Callable[[int], None] | None) -> None:
    """The batches of one import, committed every COMMIT_ROWS rows or so (or, in a dry run, flushed and finally
    rolled back)."""
    pending = 0
    commit_rows = COMMIT_ROWS if known.sqlite else 0
    for batch in batches:
        _import_batch(session, batch, summary, sink, known)
        pending += batch[0]
        if dry_run:
            session.flush()
        elif pending >= commit_rows:
            session.commit()
            pending = 0
        if on_progress is not None:
            on_progress(batch[0])
    if dry_run:
        session.rollback()
    else:
        session.commit()


@dataclass(frozen=True)
class _Known:
    """What an import reads once, before its first batch."""

    source: str
    columns: tuple[str, ...]  # what records carry (contacts.imports.prepare.prepared_columns)
    sqlite: bool
    lock_existing: bool  # PostgreSQL without foreign-key triggers: existing contacts are read FOR KEY SHARE
    max_before: int  # contacts above this id were created by this import
    aliases: Aliases  # emails / external ids of merged-away contacts → survivor
    erased: frozenset[tuple[str, str]]  # (channel, address hash) of people erased under GDPR

    @classmethod
    def load(cls, session: Session, *, source: str, columns: tuple[str, ...]) -> _Known:
        max_before = session.scalar(select(func.max(Contact.id))) or 0
        erased = frozenset(session.execute(
            select(Suppression.channel, Suppression.address_hash).where(Suppression.reason == "erased")).tuples())
        sqlite = is_sqlite(session)
        return cls(source, columns, sqlite, bool(session.info.get(TRIGGERS_OFF)), max_before,
                   load_aliases(session) if max_before else {}, erased)

    def preparation(self) -> Preparation:
        return Preparation(self.source, self.sqlite, self.columns, self.erased)


def _import_batch(session: Session, batch: PreparedBatch, summary: ImportSummary, sink: ErrorSink,
                  known: _Known) -> None:
    rows_read, rejected, records = batch
    summary.rows_read += rows_read
    for errors in rejected:
        sink.reject([RowError(*error) for error in errors])
    resolver = BatchResolver(session, known.aliases, columns=known.columns, lock=known.lock_existing)
    new, existing = resolver.resolve(records)
    for error in resolver.rejected:
        sink.reject([error])
    folded = [item for item in new if type(item) is Entity]
    for entity in folded:
        entity.fields.setdefault("source", known.source[:SOURCE_LENGTH])
    link_accounts(session, folded + existing)
    changed = [entity for entity in existing if entity.snapshot() != entity.original]
    create_contacts(session, new, columns=known.columns, source=known.source)
    update_contacts(session, changed)
    gained_tags = add_tags(session, existing)
    consented = apply_consents(session, existing, default_source=known.source)
    summary.created += len(new)
    summary.merged += sum(entity.rows - 1 for entity in folded)
    _count(summary, existing, {id(entity) for entity in changed}, gained_tags | consented, known.max_before)


def _count(summary: ImportSummary, existing: list[Entity], changed: set[int], side_changes: set[int],
           max_before: int) -> None:
    for entity in existing:
        if (entity.id or 0) > max_before:  # created by an earlier batch of this import
            summary.merged += entity.rows
        else:
            if id(entity) in changed or entity.id in side_changes:
                summary.updated += 1
            else:
                summary.unchanged += 1
            summary.merged += entity.rows - 1
