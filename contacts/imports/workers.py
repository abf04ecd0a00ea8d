"""Reading and preparing an import file next to its writer: small files in the writing process, large ones in
worker processes that each read the file themselves and prepare every n-th batch, handed to the writer in file
order through bounded queues (the writer never touches raw rows, and memory stays flat)."""

from __future__ import annotations

import gc
import multiprocessing
import os
import pickle
import queue as queues
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import chain, count, islice
from pathlib import Path
from typing import Any

from contacts.imports.prepare import Preparation, PreparedBatch, prepare_batch
from contacts.imports.readers import Table, open_table
from contacts.imports.rows import RowParser

READ_AHEAD = 3  # prepared batches waiting per worker
POLL_SECONDS = 0.5


def default_workers() -> int:
    """Parsing processes next to the writer: one per spare core, at most two."""
    return max(0, min(2, (os.cpu_count() or 1) - 1))


def chunks(rows: Iterator[tuple[int, list[str]]], size: int) -> Iterator[list[tuple[int, list[str]]]]:
    while chunk := list(islice(rows, size)):
        yield chunk


@dataclass(frozen=True)
class _Job:
    path: Path
    parser: RowParser
    preparation: Preparation
    batch_size: int
    workers: int


def prepared_batches(table: Table, path: Path, parser: RowParser, preparation: Preparation, *, batch_size: int,
                     workers: int) -> Iterator[PreparedBatch]:
    """The file's prepared batches in order; files of more than two batches are prepared by `workers` processes."""
    raw = chunks(table.rows, batch_size)
    head = list(islice(raw, 2))
    if workers < 1 or len(head) < 2:
        for chunk in chain(head, raw):
            yield prepare_batch(parser, chunk, preparation)
        return
    close = getattr(table.rows, "close", None)
    if close is not None:
        close()  # the workers read the file themselves
    yield from _from_workers(_Job(path, parser, preparation, batch_size, workers))


@dataclass(frozen=True)
class _Failed:
    """What a worker sends instead of a batch when it fails: the exception, re-raised in the writer."""

    error: BaseException


_END = "end"


def _from_workers(job: _Job) -> Iterator[PreparedBatch]:
    methods = multiprocessing.get_all_start_methods()
    context: Any = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    channels = [context.Queue(maxsize=READ_AHEAD) for _ in range(job.workers)]
    processes = [context.Process(target=_work, args=(job, index, channel), daemon=True, name=f"relance-parse-{index}")
                 for index, channel in enumerate(channels)]
    for process in processes:
        process.start()
    try:
        for number in count():  # batch n comes from worker n % workers; the first end marker means no batch n
            item = _receive(channels[number % job.workers], processes[number % job.workers])
            if item == _END:
                return
            yield item
    finally:
        for process in processes:
            if process.is_alive():
                process.terminate()
            process.join()
        for channel in channels:
            channel.close()


def _receive(channel: Any, process: Any) -> Any:
    while True:
        try:
            item = channel.get(timeout=POLL_SECONDS)
        except queues.Empty:
            if process.is_alive():
                continue
            try:  # its last words may still be on their way
                item = channel.get(timeout=POLL_SECONDS)
            except queues.Empty:
                raise RuntimeError(f"the parsing process stopped unexpectedly (exit code {process.exitcode})") from None
        if isinstance(item, _Failed):
            raise item.error
        return item


def _work(job: _Job, index: int, channel: Any) -> None:
    """A worker process: read the whole file, prepare batches index, index + workers, …, then send the end."""
    gc.freeze()  # a parsing process lives for one import: see core.bulk.lean_gc
    gc.set_threshold(100_000, 50, 1000)
    try:
        table = open_table(job.path)
        for number, chunk in enumerate(chunks(table.rows, job.batch_size)):
            if number % job.workers == index:
                channel.put(prepare_batch(job.parser, chunk, job.preparation))
        channel.put(_END)
    except BaseException as exc:  # noqa: BLE001 - every failure goes to the writer, which raises it
        channel.put(_Failed(_picklable(exc)))


def _picklable(error: BaseException) -> BaseException:
    try:
        pickle.loads(pickle.dumps(error))
    except Exception:  # noqa: BLE001 - any exception that does not survive the trip becomes a RuntimeError
        return RuntimeError(f"{type(error).__name__}: {error}")
    return error
