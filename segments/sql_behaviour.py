"""Compiles behavioural conditions over the timeline: per-contact stats where they suffice, else `events`."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, func, select
from sqlalchemy.sql.elements import ColumnElement

from core import clock
from core.models import Contact, ContactEventStat, Event
from segments.compile_context import Context, json_value
from segments.language import Comparison, EventCondition, PropertyMatch
from segments.sql_fields import attribute_kind, compare
from segments.timewindows import shift
from segments.values import COMPARATORS


def count_shape(count: Comparison) -> str:
    """'at_least_once' when the count condition means k >= 1, 'never' when it means k == 0, else 'general'."""
    top = int(max((bound for _, bound in count.bounds()), default=0)) + 2
    holds = [count.holds(k) for k in range(top + 1)]
    if not holds[0] and all(holds[1:]):
        return "at_least_once"
    if holds[0] and not any(holds[1:]):
        return "never"
    return "general"


def count_predicate(count: Comparison, counted: Any) -> ColumnElement[bool]:
    return and_(*(COMPARATORS[op](counted, bound) for op, bound in count.bounds()))


def since(ctx: Context, node: EventCondition) -> datetime | None:
    """The earliest occurred_at the condition counts (from `within` and `after`)."""
    bounds = []
    if node.within:
        bounds.append(shift(ctx.now, node.within, -1))
    if node.after:
        after = _moment(node.after)
        bounds.append(after + timedelta(days=1) if len(node.after) == 10 else after)
    return max(bounds) if bounds else None


def until(node: EventCondition) -> datetime | None:
    """The moment before which events count (from `before`)."""
    return _moment(node.before) if node.before else None


def _moment(text: str) -> datetime:
    if len(text) > 10:
        return clock.utc(datetime.fromisoformat(text))
    return clock.utc(datetime.combine(date.fromisoformat(text), datetime.min.time()))


def _property_filter(ctx: Context, key: str, match: PropertyMatch) -> ColumnElement[bool]:
    kind = attribute_kind(match.op, match.value)
    target = json_value(ctx, Event.properties, key, kind)
    if match.op == "ne":
        return ~func.coalesce(target == match.value, False)
    return compare(target, match.op, match.value)


def _event_filters(ctx: Context, node: EventCondition) -> list[ColumnElement[bool]]:
    filters: list[ColumnElement[bool]] = [Event.type == node.event]
    start, end = since(ctx, node), until(node)
    if start is not None:
        filters.append(Event.occurred_at >= start)
    if end is not None:
        filters.append(Event.occurred_at < end)
    if node.campaign is not None:
        filters.append(Event.campaign_id == node.campaign)
    filters.extend(_property_filter(ctx, key, match) for key, match in sorted(node.where.items()))
    return filters


def _stats_condition(ctx: Context, node: EventCondition, shape: str) -> ColumnElement[bool]:
    """All-time counts and 'at least once since' read the per-contact stats row (one index probe)."""
    filters = [ContactEventStat.contact_id == Contact.id, ContactEventStat.type == node.event]
    start = since(ctx, node)
    if start is not None:
        filters.append(ContactEventStat.last_at >= start)
    if shape == "at_least_once":
        return exists().where(*filters, ContactEventStat.count > 0)
    if shape == "never":
        return ~exists().where(*filters, ContactEventStat.count > 0)
    if node.count.holds(0):
        return ~exists().where(*filters, ~count_predicate(node.count, ContactEventStat.count))
    return exists().where(*filters, count_predicate(node.count, ContactEventStat.count))


def uses_stats(node: EventCondition) -> bool:
    """Whether the stats row answers the condition exactly (no property, campaign or end-date filter;
    a time window only for at-least-once / never)."""
    if node.where or node.campaign is not None or node.before:
        return False
    windowed = node.within is not None or node.after is not None
    return not windowed or count_shape(node.count) != "general"


def event_condition(ctx: Context, node: EventCondition) -> ColumnElement[bool]:
    """A two-valued predicate over Contact for the behavioural condition `node`."""
    shape = count_shape(node.count)
    if uses_stats(node):
        return _stats_condition(ctx, node, shape)
    filters = _event_filters(ctx, node)
    if shape != "general":
        found = exists().where(Event.contact_id == Contact.id, *filters)
        return found if shape == "at_least_once" else ~found
    if ctx.sqlite:  # SQLite: a correlated count per remaining contact beats materialising the grouped list
        per_contact = select(func.count()).where(Event.contact_id == Contact.id, *filters).scalar_subquery()
        return count_predicate(node.count, per_contact)
    counted = func.count()  # PostgreSQL: one grouped pass, hashed (anti-)semi-join
    matching = select(Event.contact_id).where(Event.contact_id.is_not(None), *filters).group_by(Event.contact_id)
    if node.count.holds(0):
        return Contact.id.not_in(matching.having(~count_predicate(node.count, counted)))
    return Contact.id.in_(matching.having(count_predicate(node.count, counted)))
