"""SQL helpers shared by the feedback modules."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import any_, bindparam
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session


def member(session: Session, column: Any, values: Sequence[Any]) -> Any:
    """`column IN values`; on PostgreSQL `= ANY(array)`: one parameter instead of thousands to bind and parse."""
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam(None, list(values), type_=ARRAY(column.type)))
    return column.in_(values)
