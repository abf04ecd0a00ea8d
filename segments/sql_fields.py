"""Compiles field conditions (contact columns, `attributes.*`, `account.*`) to two-valued SQL predicates."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, exists, false, func, true
from sqlalchemy.sql.elements import ColumnElement

from core.models import Account, Contact
from segments.catalogue import FieldSpec, lookup
from segments.compile_context import Context, ValueKind, json_is_set, json_value, month_day
from segments.language import FieldCondition
from segments.timewindows import local_date, month_days, shift, window_days, zones_by_local_date
from segments.values import COMPARATORS

RELATIVE = ("within", "within_next", "older_than")


def _is_date_only(value: str) -> bool:
    return len(value) == 10


def _as_datetime(value: str) -> datetime:
    moment = datetime.fromisoformat(value)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def attribute_kind(op: str, value: Any) -> ValueKind:
    """How an `attributes.*` condition reads its JSON value: decided by the operator and the value given."""
    if op in ("contains", "starts_with", "ends_with", "before", "after", "anniversary_within") or op in RELATIVE:
        return "string"
    sample = value[0] if isinstance(value, tuple) else value
    if isinstance(sample, bool):
        return "boolean"
    if isinstance(sample, int | float):
        return "number"
    return "string"


def compare(target: Any, op: str, value: Any) -> ColumnElement[bool]:
    if op in COMPARATORS:
        return COMPARATORS[op](target, value)
    if op == "in":
        return target.in_(list(value))
    if op == "between":
        return and_(target >= value[0], target <= value[1])
    lowered = func.lower(target)
    if op == "contains":
        return lowered.contains(value.lower(), autoescape=True)
    if op == "starts_with":
        return lowered.startswith(value.lower(), autoescape=True)
    if op == "ends_with":
        return lowered.endswith(value.lower(), autoescape=True)
    raise ValueError(f"operator {op} is not a comparison")


def _relative_bounds(ctx: Context, op: str, duration: str, today_like: Any) -> tuple[Any, Any]:
    """(lower, upper) where lower inclusive and upper exclusive; None means unbounded."""
    if op == "within":
        return shift(today_like, duration, -1), _after_today(today_like)
    if op == "within_next":
        return today_like, _after_today(shift(today_like, duration, +1))
    return None, shift(today_like, duration, -1)  # older_than


def _after_today(moment: Any) -> Any:
    return moment + timedelta(days=1) if not isinstance(moment, datetime) else moment + timedelta(microseconds=1)


def _range(target: Any, lower: Any, upper: Any) -> ColumnElement[bool]:
    parts = []
    if lower is not None:
        parts.append(target >= lower)
    if upper is not None:
        parts.append(target < upper)
    return and_(*parts)


def _date_condition(ctx: Context, target: Any, spec: FieldSpec, op: str, value: Any) -> ColumnElement[bool]:
    """Date/datetime column conditions: absolute and relative dates, same-day equality."""
    as_value = (lambda text: date.fromisoformat(text[:10])) if spec.type == "date" else _as_datetime
    if op in RELATIVE:
        origin: Any = ctx.now.date() if spec.type == "date" else ctx.now
        return _range(target, *_relative_bounds(ctx, op, value, origin))
    if op == "before":
        return target < as_value(value)
    if op == "after":
        if spec.type == "datetime" and _is_date_only(value):
            return target >= as_value(value) + timedelta(days=1)
        return target > as_value(value)
    if op == "eq" and spec.type == "datetime" and _is_date_only(value):
        start = as_value(value)
        return _range(target, start, start + timedelta(days=1))
    if op == "between":
        return compare(target, op, (as_value(value[0]), as_value(value[1])))
    return compare(target, op, as_value(value))


def _text_date_condition(ctx: Context, target: Any, op: str, value: str) -> ColumnElement[bool]:
    """Dates kept as ISO text in JSON attributes: compared as text against ISO bounds."""
    if op in RELATIVE:
        hourly = value.endswith("h")
        origin: Any = ctx.now.replace(tzinfo=None) if hourly else ctx.now.date()
        lower, upper = _relative_bounds(ctx, op, value, origin)
        iso = (lambda moment: moment.isoformat(timespec="seconds")) if hourly else (lambda moment: moment.isoformat())
        return _range(target, None if lower is None else iso(lower), None if upper is None else iso(upper))
    if op == "before":
        return target < value
    if _is_date_only(value):
        return target >= (date.fromisoformat(value) + timedelta(days=1)).isoformat()
    return target > value


def anniversary(ctx: Context, mmdd: ColumnElement[str], duration: str) -> ColumnElement[bool]:
    """The month-day falls within the next `duration` counted from today in the contact's own timezone."""
    default_day = local_date(ctx.now, ctx.default_timezone)
    branches = []
    for day, zones in sorted(zones_by_local_date(ctx.now).items()):
        if day != default_day:
            branches.append((Contact.timezone.in_(zones), mmdd.in_(month_days(day, window_days(day, duration)))))
    default = mmdd.in_(month_days(default_day, window_days(default_day, duration)))
    return case(*branches, else_=default) if branches else default


def _attribute_condition(ctx: Context, column: Any, key: str, op: str, value: Any) -> ColumnElement[bool]:
    if op == "is_set":
        return json_is_set(ctx, column, key)
    kind = attribute_kind(op, value)
    target = json_value(ctx, column, key, kind)
    if op == "anniversary_within":
        return and_(target.is_not(None), anniversary(ctx, month_day(ctx, target, text=True), value))
    if op in RELATIVE or op in ("before", "after"):
        return _text_date_condition(ctx, target, op, value)
    return compare(target, op, value)


def _column_condition(ctx: Context, target: Any, spec: FieldSpec, op: str, value: Any) -> ColumnElement[bool]:
    if op == "is_set":
        return and_(target.is_not(None), target != "") if spec.type == "string" else target.is_not(None)
    if op == "anniversary_within":
        return and_(target.is_not(None), anniversary(ctx, month_day(ctx, target, text=False), value))
    if spec.type in ("date", "datetime"):
        return _date_condition(ctx, target, spec, op, value)
    return compare(target, op, value)


def field_condition(ctx: Context, node: FieldCondition, op: str) -> ColumnElement[bool]:
    """The predicate of `node` with `op` (ne/not_in/is_not_set are negations decided by the compiler)."""
    spec = lookup(node.field)
    model: Any = Account if spec.table == "account" else Contact
    if spec.attribute:
        predicate = _attribute_condition(ctx, model.attributes, spec.column, op, node.value)
    else:
        predicate = _column_condition(ctx, getattr(model, spec.column), spec, op, node.value)
    if spec.table == "account":
        return exists().where(Account.id == Contact.account_id, predicate)
    return predicate


POSITIVE_OF = {"ne": "eq", "not_in": "in", "is_not_set": "is_set"}


def two_valued_negation(predicate: ColumnElement[bool]) -> ColumnElement[bool]:
    """NOT of a predicate that may be NULL (a NULL column): NULL counts as 'does not hold'."""
    return ~func.coalesce(predicate, false())


def always(value: bool) -> ColumnElement[bool]:
    """A constant predicate."""
    return true() if value else false()



