"""Streaming tabular readers: CSV (delimiter and encoding detected) and XLSX (openpyxl read-only)."""

from __future__ import annotations

import codecs
import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from typing import IO, Any
from zipfile import BadZipFile

DELIMITERS = (";", ",", "\t", "|")
_CHUNK = 1 << 20

csv.field_size_limit(10 * 1024 * 1024)


class UnreadableFile(ValueError):
    """A file that is not a table we can read, with the reason."""


@dataclass(frozen=True)
class Table:
    """A file opened for streaming: its headers, then (line number, cells) per data row."""

    headers: list[str]
    rows: Iterator[tuple[int, list[str]]]
    encoding: str | None = None
    delimiter: str | None = None


def detect_encoding(path: Path) -> str:
    """`utf-8-sig` (BOM), `utf-8` when the whole file decodes as UTF-8, else `cp1252` (or `latin-1`)."""
    with path.open("rb") as handle:
        head = handle.read(4)
        if head.startswith(codecs.BOM_UTF8):
            return "utf-8-sig"
        if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return "utf-16"
        handle.seek(0)
        if _decodes(handle, "utf-8"):
            return "utf-8"
        handle.seek(0)
        return "cp1252" if _decodes(handle, "cp1252") else "latin-1"


def _decodes(handle: IO[bytes], encoding: str) -> bool:
    decoder = codecs.getincrementaldecoder(encoding)()
    try:
        while chunk := handle.read(_CHUNK):
            decoder.decode(chunk)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def detect_delimiter(header_line: str) -> str:
    """The delimiter that splits the header line into the most columns (`;` wins ties, as Excel FR)."""
    counts = {delimiter: _count_outside_quotes(header_line, delimiter) for delimiter in DELIMITERS}
    best = max(DELIMITERS, key=lambda delimiter: counts[delimiter])
    return best if counts[best] else ","


def _count_outside_quotes(line: str, delimiter: str) -> int:
    count, quoted = 0, False
    for char in line:
        if char == '"':
            quoted = not quoted
        elif char == delimiter and not quoted:
            count += 1
    return count


def open_table(path: Path, *, sheet: str | None = None) -> Table:
    """Open a CSV/TSV/TXT or XLSX file for streaming; raises UnreadableFile."""
    if not path.is_file():
        raise UnreadableFile(f"{path} does not exist or is not a file")
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        return _open_xlsx(path, sheet)
    if suffix == ".xls":
        raise UnreadableFile("old .xls workbooks are not supported: save the sheet as .xlsx or CSV")
    return _open_csv(path)


def _open_csv(path: Path) -> Table:
    encoding = detect_encoding(path)
    handle = path.open("r", encoding=encoding, newline="")
    first_line = handle.readline()
    if not first_line.strip():
        handle.close()
        raise UnreadableFile(f"{path.name} is empty (no header line)")
    delimiter = detect_delimiter(first_line)
    handle.seek(0)
    reader = csv.reader(handle, delimiter=delimiter)
    headers = [cell.strip() for cell in next(reader)]
    return Table(headers, _csv_rows(reader, handle, path.name), encoding, delimiter)


def _csv_rows(reader: Any, handle: IO[str], name: str) -> Iterator[tuple[int, list[str]]]:
    start = reader.line_num + 1
    try:
        for cells in reader:
            if any(cells):
                yield start, cells
            start = reader.line_num + 1
    except csv.Error as exc:  # e.g. a field over the size limit (an unclosed quote swallowing the file)
        raise UnreadableFile(f"{name}, line {start}: {exc} (is a quote left open?)") from exc
    finally:
        handle.close()


def _open_xlsx(path: Path, sheet: str | None) -> Table:
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except (InvalidFileException, BadZipFile, OSError, KeyError, ValueError) as exc:
        raise UnreadableFile(f"{path.name} is not a readable XLSX workbook: {exc}") from exc
    if sheet is not None and sheet not in workbook.sheetnames:
        workbook.close()
        raise UnreadableFile(f"{path.name} has no sheet {sheet!r} (sheets: {', '.join(workbook.sheetnames)})")
    worksheet = workbook[sheet] if sheet else workbook.worksheets[0]
    rows = worksheet.iter_rows(values_only=True)
    try:
        headers = [cell_text(cell).strip() for cell in next(rows)]
    except StopIteration:
        workbook.close()
        raise UnreadableFile(f"{path.name} has an empty first sheet") from None
    return Table(headers, _xlsx_rows(rows, workbook))


def _xlsx_rows(rows: Iterator[tuple[Any, ...]], workbook: Any) -> Iterator[tuple[int, list[str]]]:
    try:
        for line, values in enumerate(rows, start=2):
            cells = [cell_text(value) for value in values]
            if any(cells):
                yield line, cells
    finally:
        workbook.close()


def cell_text(value: Any) -> str:
    """A spreadsheet cell as the text a CSV export would hold (dates ISO, whole floats without `.0`)."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time(0) else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def estimate_rows(path: Path) -> int | None:
    """About how many data rows a file holds, for a progress bar (lines minus the header; the sheet's size for
    XLSX); None when it cannot tell cheaply."""
    try:
        if path.suffix.lower() in (".xlsx", ".xlsm"):
            from openpyxl import load_workbook

            workbook = load_workbook(path, read_only=True)
            try:
                return max((workbook.worksheets[0].max_row or 1) - 1, 0)
            finally:
                workbook.close()
        lines = 0
        with path.open("rb") as handle:
            while chunk := handle.read(_CHUNK):
                lines += chunk.count(b"\n")
        header = 0 if path.suffix.lower() in (".jsonl", ".ndjson", ".json") else 1
        return max(lines - header, 0)
    except Exception:  # noqa: BLE001 - only a hint for the progress bar; the import reports real errors
        return None


def iter_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any] | str]]:
    """(line number, object) per non-blank line of a JSON-lines file; a string instead when a line is bad."""
    with path.open("r", encoding=detect_encoding(path)) as handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except ValueError as exc:
                yield line_number, f"not valid JSON: {exc}"
                continue
            yield line_number, value if isinstance(value, dict) else "each line must be a JSON object"


def iter_records(path: Path) -> Iterator[tuple[int, dict[str, Any] | str]]:
    """(line number, {header: value}) for CSV/XLSX, or the objects of a .jsonl/.ndjson file."""
    if path.suffix.lower() in (".jsonl", ".ndjson", ".json"):
        yield from iter_jsonl(path)
        return
    table = open_table(path)
    headers = [header.strip() for header in table.headers]
    for line, cells in table.rows:
        yield line, {header: (cells[index] if index < len(cells) else "") for index, header in enumerate(headers)}

