"""Time in journeys: durations (`30m`, `2d`), waits in days that keep the contact's local clock time across DST
changes, and the next local time on allowed weekdays — computed per timezone, never per contact."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

DURATION = re.compile(r"^\s*(\d{1,6})\s*(s|m|h|d|w)\s*$")
UNIT_WORDS = {"s": "second", "m": "minute", "h": "hour", "d": "day", "w": "week"}
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


@dataclass(frozen=True)
class Duration:
    """An amount of s(econds), m(inutes), h(ours), d(ays) or w(eeks). Days and weeks are calendar days in the
    contact's timezone (a 2-day wait started at 10:00 ends at 10:00 local, DST or not); the others are elapsed."""

    amount: int
    unit: str

    @classmethod
    def parse(cls, text: object) -> Duration:
        match = DURATION.match(text) if isinstance(text, str) else None
        if match is None:
            raise ValueError(f"expected a duration like 30m, 12h, 2d or 1w (s, m, h, d, w), got {text!r}")
        return cls(int(match.group(1)), match.group(2))

    @property
    def calendar(self) -> bool:
        """Whether the duration counts local calendar days (d, w) rather than elapsed time."""
        return self.unit in ("d", "w")

    @property
    def elapsed(self) -> timedelta:
        seconds = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[self.unit]
        return timedelta(seconds=self.amount * seconds)

    def __str__(self) -> str:
        word = UNIT_WORDS[self.unit]
        return f"{self.amount} {word}{'' if self.amount == 1 else 's'}"

    def after(self, start: datetime, zone: ZoneInfo) -> datetime:
        """The moment this duration after `start` ends (UTC)."""
        if not self.calendar:
            return start + self.elapsed
        local = start.astimezone(zone).replace(tzinfo=None)
        return local_instant(local + timedelta(days=self.elapsed.days), zone)


def local_instant(naive: datetime, zone: ZoneInfo) -> datetime:
    """The UTC instant of a local wall-clock time. A time skipped by a spring-forward change lands just after the
    gap (02:30 → 03:30); a repeated autumn time is its first occurrence."""
    return naive.replace(tzinfo=zone).astimezone(UTC)


def clock_time(text: str) -> time:
    """`HH:MM` as a time (ValueError otherwise)."""
    match = CLOCK.match(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"expected a local time HH:MM, got {text!r}")
    return time(int(match.group(1)), int(match.group(2)))


def next_local_time(start: datetime, at: time, weekdays: tuple[str, ...], zone: ZoneInfo) -> datetime:
    """The first moment at or after `start` when it is `at` in `zone` on one of `weekdays` (all days when empty)."""
    allowed = {WEEKDAYS.index(day) for day in weekdays} if weekdays else set(range(7))
    local = start.astimezone(zone)
    day = local.date()
    for offset in range(8):
        candidate_day = day + timedelta(days=offset)
        if candidate_day.weekday() not in allowed:
            continue
        candidate = local_instant(datetime.combine(candidate_day, at), zone)
        if candidate >= start:
            return candidate
    raise AssertionError("a week always holds an allowed day")  # pragma: no cover
