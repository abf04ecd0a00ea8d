"""Relative time for segments: durations like 30d/6m/1y, and local dates per timezone for anniversaries."""

from __future__ import annotations

import calendar
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from segments.values import DURATION

T = TypeVar("T", date, datetime)


def _add_months(moment: date, months: int) -> date:
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    return moment.replace(year=year, month=month, day=min(moment.day, calendar.monthrange(year, month)[1]))


def shift(moment: T, duration: str, sign: int = -1) -> T:
    """`moment` moved by `duration` (30d, 12h, 2w, 6m, 1y) backwards (sign -1) or forwards (+1)."""
    match = DURATION.match(duration)
    if match is None:
        raise ValueError(f"bad duration {duration!r}")
    amount, unit = int(match.group(1)) * sign, match.group(2)
    if unit == "h":
        return moment + timedelta(hours=amount)
    if unit in ("d", "w"):
        return moment + timedelta(days=amount * (7 if unit == "w" else 1))
    return _add_months(moment, amount * (12 if unit == "y" else 1))  # type: ignore[return-value]


def window_days(start: date, duration: str) -> int:
    """How many days `duration` spans from `start` (calendar-aware for months and years)."""
    return max((shift(start, duration, +1) - start).days, 0)


def month_days(start: date, days: int) -> list[str]:
    """The 'MM-DD' of every day from `start` to `start + days`; 29 Feb birthdays count on 28 Feb off leap years."""
    found: list[str] = []
    for offset in range(min(days, 366) + 1):
        day = start + timedelta(days=offset)
        found.append(day.strftime("%m-%d"))
        if day.month == 2 and day.day == 28 and not calendar.isleap(day.year):
            found.append("02-29")
    return sorted(set(found))


@lru_cache(maxsize=1)
def _zones() -> tuple[str, ...]:
    return tuple(sorted(available_timezones()))


def local_date(now: datetime, zone: str) -> date:
    """Today's date in `zone` (UTC when the zone is unknown)."""
    try:
        return now.astimezone(ZoneInfo(zone)).date()
    except (ZoneInfoNotFoundError, ValueError):
        return now.date()


def zones_by_local_date(now: datetime) -> dict[date, list[str]]:
    """Every IANA timezone grouped by what today's date is there at `now`."""
    groups: dict[date, list[str]] = {}
    for zone in _zones():
        groups.setdefault(local_date(now, zone), []).append(zone)
    return groups
