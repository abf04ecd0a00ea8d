"""Checking and normalising the values in segment conditions: scalars, lists, ranges, dates and durations."""

from __future__ import annotations

import operator
import re
from datetime import date, datetime
from typing import Any

DURATION = re.compile(r"^\s*(\d{1,5})\s*([hdwmy])\s*$")
Scalar = str | int | float | bool
COMPARATORS = {"eq": operator.eq, "ne": operator.ne, "gt": operator.gt, "gte": operator.ge, "lt": operator.lt,
               "lte": operator.le}


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def as_iso_date(value: Any) -> str:
    """A date or datetime given as YAML date, datetime or ISO text, returned as ISO text."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, str):
        try:
            return (datetime.fromisoformat(value) if "T" in value or " " in value.strip() else date.fromisoformat(
                value)).isoformat()
        except ValueError:
            pass
    raise ValueError(f"expected a date like 2026-01-01, got {value!r}")


def as_duration(value: Any) -> str:
    if isinstance(value, str) and DURATION.match(value):
        return value.strip().replace(" ", "")
    raise ValueError(f"expected a duration like 30d, 12h, 2w, 6m or 1y, got {value!r}")


def _scalar(value: Any, kind: str) -> Any:
    if kind == "any" and isinstance(value, datetime | date):
        return value.isoformat()
    if kind in ("date", "datetime"):
        return as_iso_date(value)
    if kind == "number" and not _is_number(value):
        raise ValueError(f"expected a number, got {value!r}")
    if kind == "string" and not isinstance(value, str):
        raise ValueError(f"expected text, got {value!r}")
    if kind == "any" and not isinstance(value, str | int | float | bool):
        raise ValueError(f"expected text, a number or true/false, got {value!r}")
    return value


def as_ordered(value: Any, kind: str) -> Any:
    """A value for gt/gte/lt/lte/between: a number, or a date on date fields and attributes."""
    if kind == "any":
        return value if _is_number(value) else as_iso_date(value)
    if kind == "string":
        raise ValueError("text fields cannot be compared with gt/gte/lt/lte/between")
    return _scalar(value, kind)


def check_value(op: str, value: Any, kind: str) -> Any:
    """The normalised value for `op` on a field of type `kind`; raises ValueError saying what is expected."""
    if op in ("is_set", "is_not_set"):
        if value is not None:
            raise ValueError(f"{op} takes no value")
        return None
    if value is None:
        raise ValueError(f"{op} needs a value")
    return _check_present_value(op, value, kind)


def _between(value: Any, kind: str) -> tuple[Any, Any]:
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise ValueError("between needs a list of two values [low, high]")
    low, high = as_ordered(value[0], kind), as_ordered(value[1], kind)
    if isinstance(low, str) != isinstance(high, str) or low > high:
        raise ValueError("between needs [low, high] of the same kind with low <= high")
    return (low, high)


def _check_present_value(op: str, value: Any, kind: str) -> Any:
    if op in ("in", "not_in"):
        if not isinstance(value, list | tuple) or not value:
            raise ValueError(f"{op} needs a non-empty list")
        return tuple(_scalar(item, kind) for item in value)
    if op in ("contains", "starts_with", "ends_with"):
        if not isinstance(value, str) or not value:
            raise ValueError(f"{op} needs non-empty text")
        return value
    if op == "between":
        return _between(value, kind)
    if op in ("gt", "gte", "lt", "lte"):
        return as_ordered(value, kind)
    if op in ("before", "after"):
        return as_iso_date(value)
    if op in ("within", "within_next", "older_than", "anniversary_within"):
        return as_duration(value)
    return _scalar(value, kind)
