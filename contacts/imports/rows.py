"""Turning one raw import row into normalised contact fields, attributes, tags and consents — or errors."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any
from zoneinfo import available_timezones

from contacts.imports.mapping import CONSENT_CHANNELS, Mapping
from contacts.normalise import (
    InvalidValue,
    clean_text,
    fold,
    normalise_country,
    normalise_email,
    normalise_phone,
    parse_bool,
    parse_date,
    parse_datetime,
)
from core.models import Contact


@dataclass(frozen=True)
class RowError:
    """Why a row (or one of its cells) was rejected: its line, the column, the value and the reason."""

    line: int
    column: str
    value: str
    reason: str


@dataclass
class ConsentInput:
    """A consent stated by an import row, with its proof."""

    granted: bool
    at: datetime | None = None
    source: str | None = None
    ip: str | None = None


@dataclass
class ParsedRow:
    """A row once normalised; `errors` non-empty means it is rejected."""

    line: int
    fields: dict[str, Any] = field(default_factory=dict)
    attributes: dict[str, Any] = field(default_factory=dict)
    tags: set[str] = field(default_factory=set)
    consents: dict[str, ConsentInput] = field(default_factory=dict)
    errors: list[RowError] = field(default_factory=list)

    @property
    def keys(self) -> tuple[str | None, str | None, str | None]:
        """The identity keys: external id, email, phone."""
        return self.fields.get("external_id"), self.fields.get("email"), self.fields.get("phone")


_LANGUAGES = {"francais": "fr", "french": "fr", "anglais": "en", "english": "en", "allemand": "de", "german": "de",
              "espagnol": "es", "spanish": "es", "italien": "it", "italian": "it", "neerlandais": "nl", "dutch": "nl"}
_STAGES = {"client": "customer", "prospect": "lead", "abonne": "subscriber", "opportunite": "opportunity"}
_TAG_SPLIT = re.compile(r"[,;|]")
TAG_LENGTH = 120  # tags.name
IP_LENGTH = 64  # consents.ip
SEEN_TEXTS = 50_000
_INTEGER = re.compile(r"-?(?:0|[1-9]\d{0,17})")
# Decimals with a dot, or with a comma as French exports write them; `1,234` stays text (a thousands separator?).
_DECIMAL = re.compile(r"-?(?:0|[1-9]\d{0,14})(?:\.\d{1,6}|,(?!\d{3}$)\d{1,6})")
_FRENCH_DATE = re.compile(r"\d{1,2}/\d{1,2}/\d{4}")
# Countries whose postcodes are five digits that Excel turns into numbers, losing the leading zero (06000 → 6000).
_FIVE_DIGIT_POSTCODES = frozenset({"FR", "MC", "DE", "ES", "IT", "US"})


def _language(raw: str) -> str:
    key = fold(raw)
    if key in _LANGUAGES:
        return _LANGUAGES[key]
    if re.fullmatch(r"[a-z]{2}(?: [a-z]{2})?", key):
        return key[:2]
    raise InvalidValue(f"unknown language {raw!r} (use an ISO code such as fr or en)")


@lru_cache(maxsize=1)
def _timezones() -> frozenset[str]:
    return frozenset(available_timezones())


def _timezone(raw: str) -> str:
    text = raw.strip()
    if text not in _timezones():
        raise InvalidValue(f"unknown time zone {raw!r} (use an IANA name such as Europe/Paris)")
    return text


def _stage(raw: str) -> str:
    key = fold(raw).replace(" ", "_")
    return _STAGES.get(key, key)


@lru_cache(maxsize=4096)
def split_tags(raw: str) -> frozenset[str]:
    """Tags of a cell: separated by commas, semicolons or pipes, trimmed, cut to the length a tag name has."""
    return frozenset(tag[:TAG_LENGTH] for part in _TAG_SPLIT.split(raw) if (tag := clean_text(part)))


@lru_cache(maxsize=16384)  # custom columns (sector, plan, segment…) repeat a few values
def attribute_value(raw: str) -> Any:
    """A custom field value, typed so segments can compare it: whole numbers become integers and decimals floats
    (not codes with leading zeros), dd/mm/yyyy dates ISO dates; the rest stays text."""
    text = clean_text(raw)
    if text is None:
        return None
    if _INTEGER.fullmatch(text):
        return int(text)
    if _DECIMAL.fullmatch(text):
        return float(text.replace(",", "."))
    if _FRENCH_DATE.fullmatch(text):
        try:
            return parse_date(text).isoformat()
        except InvalidValue:
            return text
    return text


@lru_cache(maxsize=1)
def _column_lengths() -> dict[str, int]:
    return {
        column.name: int(length)
        for column in Contact.__table__.columns
        if (length := getattr(column.type, "length", None))
    }


_SIMPLE: dict[str, Callable[[str], Any]] = {
    "email": normalise_email,
    "country": normalise_country,
    "birth_date": parse_date,
    "language": _language,
    "timezone": _timezone,
    "lifecycle_stage": _stage,
    "postcode": lambda raw: (clean_text(raw) or "").upper() or None,
}


_Column = tuple[int, str] | None  # (index, header) of a column the file has


class RowParser:
    """Parses the rows of one file; what to do with each column is decided once, from the headers."""

    def __init__(self, headers: list[str], mapping: Mapping, *, default_region: str = "FR") -> None:
        self.headers = headers
        self.targets = mapping.resolve(headers)
        self.region = (mapping.default_region or default_region).upper()
        self.extra_tags = frozenset(tag[:TAG_LENGTH] for tag in mapping.tags)
        self.default_source = mapping.source
        self.width = len(headers)
        # Contact columns in file order: (index, header, field, normaliser or None for plain text, length limit).
        self._fields: list[tuple[int, str, str, Callable[[str], Any] | None, int | None]] = []
        self._attributes: list[tuple[int, str]] = []  # (index, attribute key)
        self._tags: list[int] = []
        self._phone: tuple[int, str] | None = None
        # Cleaned text of raw cells seen (towns, first names, companies repeat): cleaned once, and the same string
        # object every time, which the trip to the writing process sends once per batch.
        self._seen: dict[str, str] = {}
        consent_columns: dict[str, tuple[int, str]] = {}  # consent field → (index, header); the last column wins
        for index, target in self.targets.items():
            column = headers[index]
            if target == "phone":
                self._phone = (index, column)
            elif target == "tags":
                self._tags.append(index)
            elif target.startswith("attributes."):
                self._attributes.append((index, target[11:]))
            elif "_opt_in" in target:
                consent_columns[target] = (index, column)
            else:
                special = _field_normaliser(target) if target in _SIMPLE else None
                self._fields.append((index, column, target, special, _column_lengths().get(target)))
        self._consents: list[tuple[str, tuple[int, str], _Column, _Column, _Column]] = [
            (channel, consent_columns[f"{channel}_opt_in"], consent_columns.get(f"{channel}_opt_in_date"),
             consent_columns.get(f"{channel}_opt_in_source"), consent_columns.get(f"{channel}_opt_in_ip"))
            for channel in CONSENT_CHANNELS if f"{channel}_opt_in" in consent_columns
        ]

    def parse(self, line: int, cells: list[str]) -> ParsedRow:
        """Normalise one row; problems are collected in `errors`, one per bad cell."""
        if len(cells) < self.width:
            cells = cells + [""] * (self.width - len(cells))
        row = ParsedRow(line, tags=set(self.extra_tags))
        self._assign_fields(row, cells)
        for index, key in self._attributes:
            if raw := cells[index].strip():
                row.attributes[key] = attribute_value(raw)
        for index in self._tags:
            if raw := cells[index].strip():
                row.tags.update(split_tags(raw))
        if self._phone is not None and (raw := cells[self._phone[0]].strip()):
            self._assign_phone(row, self._phone[1], raw)
        if self._consents:
            self._assign_consents(row, cells)
        if self.default_source and "source" not in row.fields:
            row.fields["source"] = self.default_source
        self._restore_postcode_zero(row.fields)
        _check_identity(row)
        return row

    def _assign_fields(self, row: ParsedRow, cells: list[str]) -> None:
        fields, errors, line = row.fields, row.errors, row.line
        for index, column, target, normaliser, limit in self._fields:
            raw = cells[index]
            if not raw or raw.isspace():
                continue
            if normaliser is not None:
                try:
                    fields[target] = normaliser(raw)
                except InvalidValue as exc:
                    errors.append(RowError(line, column, raw.strip(), str(exc)))
                continue
            text = self._seen.get(raw)
            if text is None:
                text = " ".join(raw.split())  # clean_text, inlined: most columns are plain text
                if len(self._seen) < SEEN_TEXTS:
                    self._seen[raw] = text
            if limit and len(text) > limit:
                errors.append(RowError(line, column, raw.strip(), _too_long(text, limit)))
            else:
                fields[target] = text

    def _restore_postcode_zero(self, fields: dict[str, Any]) -> None:
        """`6000` from a spreadsheet cell is Nice's `06000` again (four digits where postcodes have five)."""
        postcode = fields.get("postcode")
        if postcode and len(postcode) == 4 and postcode.isdigit() and (
                fields.get("country") or self.region) in _FIVE_DIGIT_POSTCODES:
            fields["postcode"] = "0" + postcode

    def _assign_phone(self, row: ParsedRow, column: str, raw: str) -> None:
        region = row.fields.get("country") or self.region
        try:
            row.fields["phone"] = normalise_phone(raw, region)
        except InvalidValue as exc:
            row.errors.append(RowError(row.line, column, raw, str(exc)))

    def _assign_consents(self, row: ParsedRow, cells: list[str]) -> None:
        """A consent per channel whose opt-in cell is filled, with its proof (date, source, IP)."""
        for channel, (flag, flag_column), date, source, ip in self._consents:
            raw = cells[flag].strip()
            if not raw:
                continue
            try:
                consent = ConsentInput(parse_bool(raw), source=_cell(cells, source), ip=_cell(cells, ip))
            except InvalidValue as exc:
                row.errors.append(RowError(row.line, flag_column, raw, str(exc)))
                continue
            if consent.ip is not None and len(consent.ip) > IP_LENGTH and ip is not None:
                row.errors.append(RowError(row.line, ip[1], consent.ip, _too_long(consent.ip, IP_LENGTH)))
                continue
            if date is not None and (when := cells[date[0]].strip()):
                try:
                    consent.at = parse_datetime(when)
                except InvalidValue as exc:
                    row.errors.append(RowError(row.line, date[1], when, str(exc)))
                    continue
            row.consents[channel] = consent


def _cell(cells: list[str], column: _Column) -> str | None:
    return (cells[column[0]].strip() or None) if column is not None else None


def _too_long(text: str, limit: int) -> str:
    return f"too long ({len(text)} characters, at most {limit})"


def _field_normaliser(target: str) -> Callable[[str], Any]:
    """The normaliser of a contact column with a special format, with the column's length limit checked."""
    special = _SIMPLE[target]
    limit = _column_lengths().get(target)

    def normalise(raw: str) -> Any:
        value = special(raw)
        if limit and isinstance(value, str) and len(value) > limit:
            raise InvalidValue(_too_long(value, limit))
        return value

    return normalise


def _check_identity(row: ParsedRow) -> None:
    if row.errors or any(row.keys):
        return
    fields = row.fields
    if fields.get("last_name") and fields.get("address_line1") and (fields.get("postcode") or fields.get("city")):
        return
    row.errors.append(RowError(
        row.line, "", "", "no email, phone, external id or complete postal address: nothing identifies this contact"
    ))


def postal_key(fields: dict[str, Any]) -> str | None:
    """Identity of a contact known only by a postal address: name + first address line + postcode/city."""
    if not (fields.get("last_name") and fields.get("address_line1")):
        return None
    parts = [fields.get("first_name"), fields["last_name"], fields["address_line1"],
             fields.get("postcode") or fields.get("city")]
    return "|".join(fold(str(part or "")) for part in parts)
