"""What every compilation pass shares: the dialect, the moment, resolved names and portable SQL helpers."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Float, String, case, cast, func, literal, text
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from core.dialect import SQLiteFunction, is_sqlite
from core.dialect import ensure_sqlite_functions as core_ensure_sqlite_functions
from core.signing import hash_address

ValueKind = Literal["string", "number", "boolean"]

# json_type() on SQLite / jsonb_typeof() on PostgreSQL, per value kind.
_SQLITE_TYPES = {"string": ("text",), "number": ("integer", "real"), "boolean": ("true", "false")}
_PG_TYPES = {"string": ("string",), "number": ("number",), "boolean": ("boolean",)}


@dataclass
class Context:
    """The state of one compilation: dialect, `now`, default timezone and segment ids resolved by name."""

    dialect: str
    now: datetime
    default_timezone: str
    segment_ids: dict[str, int] = field(default_factory=dict)

    @property
    def sqlite(self) -> bool:
        return self.dialect == "sqlite"


def json_value(ctx: Context, column: Any, key: str, kind: ValueKind) -> ColumnElement[Any]:
    """The JSON `column[key]` as SQL of `kind`, or NULL when it is missing or of another JSON type.

    The CASE guards the cast, so `{"x": "abc"}` never breaks a numeric comparison on PostgreSQL.
    """
    if ctx.sqlite:
        path = f'$."{key}"'
        json_type = func.json_type(column, path)
        raw: ColumnElement[Any] = func.json_extract(column, path)
        if kind == "boolean":
            return case((json_type.in_(_SQLITE_TYPES[kind]), json_type == "true"))
        return case((json_type.in_(_SQLITE_TYPES[kind]), raw))
    typeof = func.jsonb_typeof(column.op("->")(literal(key, String)))
    text = column.op("->>")(literal(key, String))
    if kind == "number":
        return case((typeof.in_(_PG_TYPES[kind]), cast(text, Float)))
    if kind == "boolean":
        return case((typeof.in_(_PG_TYPES[kind]), text == "true"))
    return case((typeof.in_(_PG_TYPES[kind]), text))


def json_is_set(ctx: Context, column: Any, key: str) -> ColumnElement[bool]:
    """The key is present, not JSON null and not an empty string."""
    if ctx.sqlite:
        path = f'$."{key}"'
        json_type = func.json_type(column, path)
        not_empty = func.coalesce(func.json_extract(column, path), "x") != ""
        return json_type.is_not(None) & (json_type != "null") & not_empty
    node = column.op("->")(literal(key, String))
    return node.is_not(None) & (func.jsonb_typeof(node) != "null") & (node != func.to_jsonb(literal("", String)))


def month_day(ctx: Context, value: Any, *, text: bool) -> ColumnElement[str]:
    """'MM-DD' of a date column (text=False) or of ISO date text (text=True)."""
    if text or ctx.sqlite:
        return func.substr(value, 6, 5)
    return func.to_char(value, "MM-DD")


def tune_for_segments(session: Session) -> None:
    """PostgreSQL: no JIT for this transaction; segment queries are short, and compiling them to machine
    code costs more (≈0.25 s at 1M contacts) than it saves."""
    if not is_sqlite(session):
        session.execute(text("SET LOCAL jit = off"))


def _sqlite_hash(channel: str | None, address: str | None) -> str | None:
    return None if channel is None or address is None else hash_address(channel, address)


SQLITE_FUNCTIONS: tuple[SQLiteFunction, ...] = (("relance_address_hash", 2, _sqlite_hash),)


def ensure_sqlite_functions(session: Session) -> None:
    """Make `relance_address_hash()` available on this session's SQLite connection and future ones."""
    core_ensure_sqlite_functions(session, SQLITE_FUNCTIONS)


def address_hash(ctx: Context, channel: str, address: Any) -> ColumnElement[str]:
    """SQL for core.signing.hash_address(channel, address): sha256 hex of 'channel:' + trimmed lowercase address."""
    if ctx.sqlite:
        return func.relance_address_hash(channel, address)
    material = literal(f"{channel}:", String) + func.lower(func.trim(address))
    return func.encode(func.sha256(func.convert_to(material, "UTF8")), "hex")
