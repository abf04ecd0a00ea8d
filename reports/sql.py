"""Portable SQL pieces the reports share: epoch seconds, UTC days, human engagement, exact money sums."""

from __future__ import annotations

from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, Date, Float, Integer, Numeric, String, cast, func, literal, text, type_coerce
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from core import clock
from core.dialect import is_sqlite


def tune(session: Session) -> None:
    """PostgreSQL: no JIT for this transaction; report queries are short and JIT compiling costs more than it saves."""
    if not is_sqlite(session):
        session.execute(text("SET LOCAL jit = off"))


def epoch(session: Session, column: Any) -> ColumnElement[float]:
    """Seconds since 1970-01-01 UTC of a datetime column, as a float."""
    if is_sqlite(session):
        return (func.julianday(column) - 2440587.5) * 86400.0
    return cast(func.extract("epoch", column), Float)


def utc_day(session: Session, column: Any) -> ColumnElement[str]:
    """'YYYY-MM-DD' of a datetime column, in UTC."""
    if is_sqlite(session):
        return func.substr(column, 1, 10)
    return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD")


def utc_date(session: Session, column: Any) -> ColumnElement[date]:
    """The UTC calendar day of a datetime column, as a DATE (stored 'YYYY-MM-DD' on SQLite)."""
    if is_sqlite(session):
        return type_coerce(func.substr(column, 1, 10), Date)
    return cast(func.timezone("UTC", column), Date)


def json_flag(session: Session, properties: Any, key: str) -> ColumnElement[bool]:
    """True when the JSON `properties[key]` is the boolean true (absent, null or false: False)."""
    if is_sqlite(session):
        return func.coalesce(func.json_type(properties, f'$."{key}"'), "") == "true"
    return func.coalesce(properties.op("->>")(literal(key, String)), "") == "true"


def exact_sum(session: Session, column: Any, scale: int) -> ColumnElement[Any]:
    """SUM of a Numeric(…, scale) column without float drift.

    PostgreSQL sums `numeric` exactly. SQLite stores these columns as REAL, so each value is first rounded back
    to its `scale` decimals as an integer number of 10^-scale units, and the integers are summed exactly;
    `to_decimal` turns the result back into money.
    """
    if is_sqlite(session):
        return func.sum(cast(func.round(column * (10 ** scale)), Integer))
    return func.sum(column)


def units(session: Session, column: Any, scale: int) -> ColumnElement[int]:
    """One Numeric(…, scale) value as an integer number of 10^-scale units (exact on both databases)."""
    if is_sqlite(session):
        return cast(func.round(column * (10 ** scale)), Integer)
    return cast(column * (10 ** scale), BigInteger)


def to_decimal(session: Session, value: Any, scale: int) -> Decimal:
    """The Decimal of an `exact_sum` result (None is 0)."""
    if value is None:
        return Decimal(0)
    if is_sqlite(session):
        return Decimal(int(value)).scaleb(-scale)
    return Decimal(value)


def decimal_of(value: Any, places: int = 6) -> Decimal:
    """A float computed in SQL (weights, decays) as a Decimal rounded to `places` decimals."""
    if value is None:
        return Decimal(0)
    if isinstance(value, Decimal):
        return value
    return Decimal(repr(round(float(value), places)))


def numeric(value: Any) -> ColumnElement[Any]:
    """A Python Decimal as a bound numeric parameter."""
    return type_coerce(literal(value), Numeric(28, 10))


def bound(moment: datetime | None) -> datetime | None:
    """A datetime parameter as our columns compare it (aware UTC)."""
    return clock.utc(moment) if moment is not None else None


def whole_day(moment: datetime | None) -> date | None:
    """The UTC day starting at `moment` when it is a UTC midnight (None: open bound); ValueError otherwise."""
    if moment is None:
        return None
    moment = clock.utc(moment)
    if moment.time() != time():
        raise ValueError("not a UTC midnight")
    return moment.date()


def day_bounds(since: datetime | None, until: datetime | None) -> tuple[date | None, date | None] | None:
    """[first day, day after the last) of a period made of whole UTC days (what daily sums can answer exactly),
    None when a bound falls inside a day."""
    try:
        return whole_day(since), whole_day(until)
    except ValueError:
        return None
