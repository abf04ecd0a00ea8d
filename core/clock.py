"""The injectable clock: code asks `now()` here so tests and the demo can move time."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

_frozen: datetime | None = None
_offset = timedelta(0)


def now() -> datetime:
    """The current time, timezone-aware in UTC (frozen or shifted when a test or the demo says so)."""
    if _frozen is not None:
        return _frozen
    return datetime.now(UTC) + _offset


def utc(value: datetime) -> datetime:
    """The same instant as an aware UTC datetime; naive values are taken to be UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


@contextmanager
def frozen_at(moment: datetime) -> Iterator[None]:
    """Freeze `now()` at `moment` for the duration of the block."""
    global _frozen
    previous, _frozen = _frozen, utc(moment)
    try:
        yield
    finally:
        _frozen = previous


def freeze(moment: datetime | None) -> None:
    """Freeze `now()` at `moment` (None unfreezes)."""
    global _frozen
    _frozen = utc(moment) if moment is not None else None


def travel(delta: timedelta) -> None:
    """Move time forward (or back) by `delta`, frozen or not."""
    global _frozen, _offset
    if _frozen is not None:
        _frozen = _frozen + delta
    else:
        _offset = _offset + delta


def reset() -> None:
    """Back to the real time."""
    global _frozen, _offset
    _frozen, _offset = None, timedelta(0)
