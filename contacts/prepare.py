"""Import rows made ready for the writer in the parsing process: validated, refused when they belong to erased
people, flagged when they share a key with another row of their batch, and carrying a new contact's column values
in the database driver's types — so that the writer, the import's critical path, only resolves and writes."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from contacts.fastsql import driver_datetime, json_text
from contacts.mapping import CONTACT_FIELDS
from contacts.normalise import account_key
from contacts.rows import ConsentInput, ParsedRow, RowError, RowParser, postal_key
from core import clock
from core.signing import hash_address

# A prepared record is a plain tuple (the cheapest object to send between processes and to unpack); its items:
LINE, EXTERNAL, EMAIL, PHONE, POSTAL, FLAGS, VALUES, ACCOUNT, TAGS, CONSENTS = range(10)
# POSTAL: identity of a row without email, phone or external id (name + address), else None.
# VALUES: the new contact's PREPARED_COLUMNS in driver types, defaults applied (see FLAGS).
# ACCOUNT: the company's account key (or None). TAGS: tag names. CONSENTS: (channel, status, source, ip, at)
# per consent, `at` in driver form or None when undated.
Record = tuple[Any, ...]
PREPARED_COLUMNS = (*CONTACT_FIELDS, "attributes")

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
_TIMEZONE, _COUNTRY, _STAGE, _SOURCE, _BIRTH_DATE, _COMPANY = map(
    CONTACT_FIELDS.index, ("timezone", "country", "lifecycle_stage", "source", "birth_date", "company"))
_DEFAULTED = ((TIMEZONE_DEFAULTED, "timezone"), (STAGE_DEFAULTED, "lifecycle_stage"), (SOURCE_DEFAULTED, "source"))
_GRANTED, _WITHDRAWN = "granted", "withdrawn"

ErrorTuple = tuple[int, str, str, str]
PreparedBatch = tuple[int, list[list[ErrorTuple]], list[Record]]  # rows read, each rejected row's errors, records


@dataclass(frozen=True)
class Preparation:
    """What preparing needs besides the parser: the source given to new contacts and undated consents, the
    database's value formats, and the hashed addresses of people erased under GDPR."""

    source: str
    sqlite: bool
    erased: frozenset[tuple[str, str]] = frozenset()


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
    records = [_record(row, preparation) for row in valid]
    return len(chunk), rejected, _flag_shared(records)


def _error_tuple(error: RowError) -> ErrorTuple:
    return error.line, error.column, error.value, error.reason


def _record(row: ParsedRow, preparation: Preparation) -> Record:
    fields = row.fields
    values: list[Any] = list(map(fields.get, CONTACT_FIELDS))
    flags = 0
    if values[_TIMEZONE] is None and values[_COUNTRY] is not None:
        values[_TIMEZONE] = COUNTRY_TIMEZONES.get(values[_COUNTRY])
        flags |= TIMEZONE_DEFAULTED if values[_TIMEZONE] else 0
    if values[_STAGE] is None:
        values[_STAGE] = DEFAULT_STAGE
        flags |= STAGE_DEFAULTED
    if values[_SOURCE] is None:
        values[_SOURCE] = preparation.source[:SOURCE_LENGTH]
        flags |= SOURCE_DEFAULTED
    if values[_BIRTH_DATE] is not None and preparation.sqlite:
        values[_BIRTH_DATE] = values[_BIRTH_DATE].isoformat()
    attributes = row.attributes
    values.append(json_text({key: value for key, value in attributes.items() if value is not None})
                  if attributes else "{}")
    external, email, phone = fields.get("external_id"), fields.get("email"), fields.get("phone")
    company = values[_COMPANY]
    consents = tuple(
        (channel, _GRANTED if consent.granted else _WITHDRAWN, (consent.source or preparation.source)[:255], consent.ip,
         None if consent.at is None else driver_datetime(consent.at, sqlite=preparation.sqlite))
        for channel, consent in sorted(row.consents.items())
    ) if row.consents else ()
    return (row.line, external, email, phone, None if external or email or phone else postal_key(fields), flags,
            tuple(values), account_key(company) or None if company else None,
            tuple({tag[:120] for tag in row.tags}) if row.tags else (), consents)


def _flag_shared(records: list[Record]) -> list[Record]:
    """Records whose external id, email, phone or postal identity another record of the batch has too get SHARED."""
    shared = [_repeated(record[position] for record in records) for position in (EXTERNAL, EMAIL, PHONE, POSTAL)]
    if not any(shared):
        return records
    flagged = []
    for record in records:
        if any(record[position] in repeated for position, repeated in zip((EXTERNAL, EMAIL, PHONE, POSTAL), shared,
                                                                          strict=True) if repeated):
            record = (*record[:FLAGS], record[FLAGS] | SHARED, *record[FLAGS + 1:])
        flagged.append(record)
    return flagged


def _repeated(values: Iterable[Any]) -> set[Any]:
    counts = Counter(values)
    counts.pop(None, None)
    return {value for value, count in counts.items() if count > 1}


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


def parsed_row(record: Record) -> ParsedRow:
    """The row a record was prepared from, for folding onto other rows or an existing contact."""
    values, flags = record[VALUES], record[FLAGS]
    fields = {name: value for name, value in zip(CONTACT_FIELDS, values, strict=False) if value is not None}
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
