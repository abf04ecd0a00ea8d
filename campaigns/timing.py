"""When each message may go: the campaign start, "HH:MM in the contact's timezone", and quiet hours per channel
and country — computed once per (channel, timezone, country) group, never per contact."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from campaigns.definition import CampaignDefinition, QuietHours


@dataclass(frozen=True)
class Group:
    """Messages that share a channel, a timezone and a country (hence a send time)."""

    channel: str
    timezone: str | None
    country: str | None


def zone(name: str | None, default: str) -> ZoneInfo:
    """The contact's timezone, else the installation's default (an unknown name falls back too)."""
    for candidate in (name, default, "UTC"):
        if candidate:
            try:
                return ZoneInfo(candidate)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return ZoneInfo("UTC")


def _at_local(day: datetime, clock_time: time, tz: ZoneInfo) -> datetime:
    return datetime.combine(day.date(), clock_time, tzinfo=tz)


def _next_local_time(start: datetime, clock_time: time, tz: ZoneInfo) -> datetime:
    local = start.astimezone(tz)
    candidate = _at_local(local, clock_time, tz)
    if candidate < local:
        candidate = _at_local(local + timedelta(days=1), clock_time, tz)
    return candidate


def _after_quiet_hours(moment: datetime, quiet: QuietHours, tz: ZoneInfo) -> datetime:
    local = moment.astimezone(tz)
    if not quiet.contains(local.time().replace(tzinfo=None)):
        return moment
    end = _at_local(local, quiet.end, tz)
    if end <= local:
        end = _at_local(local + timedelta(days=1), quiet.end, tz)
    return end


def needs_grouping(definition: CampaignDefinition) -> bool:
    """Whether send times can differ between contacts (local-time schedule or quiet hours on a used channel)."""
    local = definition.schedule is not None and definition.schedule.local_time is not None
    return local or any(definition.quiet_hours_for(channel, None) is not None or _has_country_rules(definition, channel)
                        for channel in definition.channels)


def _has_country_rules(definition: CampaignDefinition, channel: str) -> bool:
    windows = definition.quiet_hours.get(channel)  # type: ignore[call-overload]
    return bool(windows) and any(key != "default" for key in windows)


def send_time(definition: CampaignDefinition, start: datetime, group: Group, default_timezone: str, *,
              quiet_hours: bool = True) -> datetime:
    """The first moment a message of `group` may go, at or after `start` (UTC); `quiet_hours=False` ignores them."""
    tz = zone(group.timezone, default_timezone)
    moment = start
    schedule = definition.schedule
    if schedule is not None and schedule.local_time is not None:
        hours, minutes = schedule.local_time.split(":")
        moment = _next_local_time(start, time(int(hours), int(minutes)), tz)
    quiet = definition.quiet_hours_for(group.channel, group.country) if quiet_hours else None
    if quiet is not None:
        moment = _after_quiet_hours(moment, quiet, tz)
    return moment.astimezone(UTC)


def window_end(definition: CampaignDefinition, start: datetime) -> datetime | None:
    """Nothing is sent after this moment (schedule.send_window_hours after the start), if set."""
    schedule = definition.schedule
    if schedule is None or schedule.send_window_hours is None:
        return None
    return start + timedelta(hours=schedule.send_window_hours)
