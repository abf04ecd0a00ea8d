"""SQL scoring needs on SQLite and PostgreSQL: day arithmetic and exp()."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Float, func, literal, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from core import clock
from core.dialect import is_sqlite


def days_before(session: Session, moment: datetime, column: Any) -> ColumnElement[Any]:
    """(moment - column) in fractional days, computed in SQL."""
    naive = clock.utc(moment).replace(tzinfo=None)
    if is_sqlite(session):
        return func.julianday(literal(naive.isoformat(sep=" "))) - func.julianday(column)
    return func.extract("epoch", literal(clock.utc(moment)) - column) / 86400.0


def ensure_math(session: Session) -> str:
    """Make sure exp() exists in SQL; returns how ('native' or 'python').

    PostgreSQL always has it. SQLite has it only when compiled with SQLITE_ENABLE_MATH_FUNCTIONS
    (Debian's and Python's recent builds are); otherwise a deterministic Python `exp` is registered on
    the session's connection, which is slower but gives identical results.
    """
    if not is_sqlite(session):
        return "native"
    try:
        session.execute(text("SELECT exp(0)")).scalar()
        return "native"
    except OperationalError:
        raw = session.connection().connection.dbapi_connection
        assert raw is not None
        raw.create_function("exp", 1, _safe_exp, deterministic=True)
        return "python"


def _safe_exp(value: float | None) -> float | None:
    return None if value is None else math.exp(value)


def exp(value: ColumnElement[Any]) -> ColumnElement[float]:
    """exp() on both dialects (call `ensure_math` first on SQLite)."""
    return func.exp(value, type_=Float)
