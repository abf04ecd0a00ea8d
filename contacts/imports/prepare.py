"""Import rows made ready for the writer in the parsing process: validated, refused when they belong to erased
people, flagged when they share a key with another row of their batch, and carrying a new contact's column values
in the database driver's types — so that the writer, the import's critical path, only resolves and writes."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from typing import Any

from contacts.imports.mapping import CONTACT_FIELDS
from contacts.imports.rows import ConsentInput, ParsedRow, RowError, RowParser, postal_key
from contacts.normalise import account_key
from core import clock
from core.bulk import driver_datetime, json_text
from core.signing import hash_address

# A prepared record is a plain tuple (the cheapest object to send between processes and to unpack); its items:
LINE, EXTERNAL, EMAIL, PHONE, POSTAL, FLAGS, VALUES, ACCOUNT, TAGS, CONSENTS = range(10)
# POSTAL: identity of a row without email, phone or external id (name + address), else None.
# VALUES: the new contact's values of Preparation.columns in driver types, defaults applied (see FLAGS).
# ACCOUNT: the company's account key (or None). TAGS: tag names (cut to contacts.imports.rows.TAG_LENGTH).
# CONSENTS: a ConsentTuple per consent.
Record = tuple[Any, ...]

# FLAGS bits.
SHARED = 1  # a key of the row is also another row's in the batch: the resolver folds it, no short cut
TIMEZONE_DEFAULTED = 2  # VALUES holds a default, not a value of the row (merges must not take it)
STAGE_DEFAULTED = 4
SOURCE_DEFAULTED = 8

DEFAULT_STAGE = "subscriber"
SOURCE_LENGTH = 120
# Default time zone of countries that have a single one (the rest stay empty: campaigns use the default).
COUNTRY_TIMEZONES = {
    "FR": "Europe/Paris", "BE": "Europe/Brussels", "CH": "Europe/Zurich", "GB": "Europe/London",
    "DE": "Europe/Berlin", "ES": "Europe/Madrid", "IT": "Europe/Rome", "NL": "Europe/Amsterdam",
    "LU": "Europe/Luxembourg", "IE": "Europe/Dublin", "MC": "Europe/Monaco", "AT": "Europe/Vienna",
    "PT": "Europe/Lisbon", "RE": "Indian/Reunion",
}
_DEFAULTED = ((TIMEZONE_DEFAULTED, "timezone"), (STAGE_DEFAULTED, "lifecycle_stage"), (SOURCE_DEFAULTED, "source"))
_GRANTED, _WITHDRAWN = "granted", "withdrawn"

ConsentTuple = tuple[str, str, str, str | None, Any]  # channel, status, source, ip, occurred_at (driver form or None)
ErrorTuple = tuple[int, str, str, str]
PreparedBatch = tuple[int, list[list[ErrorTuple]], list[Record]]  # rows read, each rejected row's errors, records


@dataclass(frozen=True)
class Preparation:
    """What preparing needs besides the parser: the source given to new contacts and undated consents, the
    database's value formats, the columns records carry (`prepared_columns`) and the hashed addresses of people
    erased under GDPR."""

    source: str
    sqlite: bool
    columns: tuple[str, ...]
    erased: frozenset[tuple[str, str]] = frozenset()


def prepared_columns(parser: RowParser) -> tuple[str, ...]:
    """The contact columns the rows of a file can fill — its mapped fields and the defaults (stage, source, the
    country's time zone) — then `attributes`. Records carry only these: a new contact's other columns are empty,
    and SQLite inserts rows several times faster when the statement does not bind them as NULLs."""
    filled = {*parser.targets.values(), "lifecycle_stage", "source"}
    if "country" in filled:
        filled.add("timezone")
    return (*(name for name in CONTACT_FIELDS if name in filled), "attributes")


@dataclass(frozen=True)
class _Layout:
    """Positions in VALUES (None: a column the file does not fill)."""

    timezone: int | None
    country: int | None
    stage: int
    source: int
    birth_date: int | None
    company: int | None
    last_name: int | None

    @classmethod
    @lru_cache(maxsize=8)
    def of(cls, columns: tuple[str, ...]) -> _Layout:
        def position(name: str) -> int | None:
            return columns.index(name) if name in columns else None

        stage, source = columns.index("lifecycle_stage"), columns.index("source")
        return cls(position("timezone"), position("country"), stage, source, position("birth_date"),
                   position("company"), position("last_name"))


def company_position(columns: tuple[str, ...]) -> int | None:
    """Where a record's VALUES hold the company name."""
    return _Layout.of(columns).company


def last_name_position(columns: tuple[str, ...]) -> int | None:
    """Where a record's VALUES hold the last name."""
    return _Layout.of(columns).last_name


def prepare_batch(parser: RowParser, chunk: list[tuple[int, list[str]]], preparation: Preparation) -> PreparedBatch:
    """Parse one batch of raw rows into rejected rows' errors (file order, erased people last) and records."""
    rejected: list[list[ErrorTuple]] = []
    valid: list[ParsedRow] = []
    for line, cells in chunk:
        row = parser.parse(line, cells)
        if row.errors:
            rejected.append([_error_tuple(error) for error in row.errors])
        else:
            valid.append(row)
    if preparation.erased:
        valid = _drop_erased(valid, rejected, preparation.erased)
    layout = _Layout.of(preparation.columns)
    records = [_record(row, preparation, layout) for row in valid]
    return len(chunk), rejected, _flag_shared(records)


def _error_tuple(error: RowError) -> ErrorTuple:
    return error.line, error.column, error.value, error.reason


def _record(row: ParsedRow, preparation: Preparation, layout: _Layout) -> Record:
    fields = row.fields
    values: list[Any] = list(map(fields.get, preparation.columns))
    values[-1] = _attributes_text(tuple(row.attributes.items())) if row.attributes else "{}"
    flags = 0
    if (layout.timezone is not None and layout.country is not None and values[layout.timezone] is None
            and values[layout.country] is not None):
        values[layout.timezone] = COUNTRY_TIMEZONES.get(values[layout.country])
        flags |= TIMEZONE_DEFAULTED if values[layout.timezone] else 0
    if values[layout.stage] is None:
        values[layout.stage] = DEFAULT_STAGE
        flags |= STAGE_DEFAULTED
    if values[layout.source] is None:
        values[layout.source] = preparation.source[:SOURCE_LENGTH]
        flags |= SOURCE_DEFAULTED
    if layout.birth_date is not None and values[layout.birth_date] is not None and preparation.sqlite:
        values[layout.birth_date] = values[layout.birth_date].isoformat()
    external, email, phone = fields.get("external_id"), fields.get("email"), fields.get("phone")
    company = fields.get("company")
    return (row.line, external, email, phone, None if external or email or phone else postal_key(fields), flags,
            tuple(values), account_key(company) or None if company else None, tuple(row.tags),
            _consents(row.consents, preparation) if row.consents else ())


@lru_cache(maxsize=16384)  # custom columns repeat a few values (sector, plan…)
def _attributes_text(items: tuple[tuple[str, Any], ...]) -> str:
    return json_text({key: value for key, value in items if value is not None})


def _consents(consents: dict[str, ConsentInput], preparation: Preparation) -> tuple[ConsentTuple, ...]:
    source, sqlite = preparation.source, preparation.sqlite
    return tuple(sorted(
        (channel, _GRANTED if consent.granted else _WITHDRAWN, consent.source[:255] if consent.source else source,
         consent.ip, None if consent.at is None else driver_datetime(consent.at, sqlite=sqlite))
        for channel, consent in consents.items()))


def _flag_shared(records: list[Record]) -> list[Record]:
    """Records whose external id, email, phone or postal identity another record of the batch has too get SHARED."""
    flagged: set[int] = set()
    for position in (EXTERNAL, EMAIL, PHONE, POSTAL):
        keys = [record[position] for record in records]
        counts = Counter(keys)
        counts.pop(None, None)
        if len(counts) < len(keys) and (repeated := {key for key, number in counts.items() if number > 1}):
            flagged.update(index for index, key in enumerate(keys) if key in repeated)
    for index in flagged:
        record = records[index]
        records[index] = (*record[:FLAGS], record[FLAGS] | SHARED, *record[FLAGS + 1:])
    return records


def _drop_erased(rows: list[ParsedRow], rejected: list[list[ErrorTuple]],
                 erased: frozenset[tuple[str, str]]) -> list[ParsedRow]:
    """Rows of people erased under GDPR are refused: their hashed addresses (email, phone, postal address) are
    kept for exactly this."""
    kept = []
    for row in rows:
        for channel, column, address in _erasable_addresses(row):
            if (channel, hash_address(channel, address)) in erased:
                rejected.append([(row.line, column, address, f"this {column} belongs to a person erased under GDPR: "
                                                              "remove them from the source file")])
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


def parsed_row(record: Record, columns: tuple[str, ...]) -> ParsedRow:
    """The row a record was prepared from (with Preparation `columns`), for folding onto other rows or a contact."""
    values, flags = record[VALUES], record[FLAGS]
    fields = {name: value for name, value in zip(columns[:-1], values, strict=False) if value is not None}
    for flag, name in _DEFAULTED:
        if flags & flag:
            del fields[name]
    if isinstance(fields.get("birth_date"), str):
        fields["birth_date"] = date.fromisoformat(fields["birth_date"])
    consents = {channel: ConsentInput(status == _GRANTED, None if at is None else as_datetime(at), source, ip)
                for channel, status, source, ip, at in record[CONSENTS]}
    return ParsedRow(record[LINE], fields, _attributes(values[-1]), set(record[TAGS]), consents)


def _attributes(text: str) -> dict[str, Any]:
    return dict(json.loads(text)) if text != "{}" else {}


def as_datetime(value: Any) -> datetime:
    """A timestamp in driver form or as read through the driver (SQLite's is text) as an aware UTC datetime."""
    return clock.utc(datetime.fromisoformat(value) if isinstance(value, str) else value)
