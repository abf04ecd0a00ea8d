"""Campaigns as code: the pydantic model of a campaign document (YAML/JSON), with path-named errors."""

from __future__ import annotations

import json
import re
from datetime import datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from segments.timewindows import shift
from segments.values import as_duration

Channel = Literal["email", "sms", "mail"]
CHANNELS: tuple[Channel, ...] = ("email", "sms", "mail")
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\- ]{0,119}$")
CLOCK = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
# SMS quiet hours by default (PROVIDERS.md: TCPA 08:00–21:00 local; the same is good manners in France).
DEFAULT_QUIET_HOURS: dict[str, dict[str, str]] = {"sms": {"default": "21:00-08:00"}}


class CampaignDefinitionError(ValueError):
    """A campaign document that cannot be used; the message names the path of each problem."""

    def __init__(self, problems: list[tuple[str, str]]):
        self.problems = problems
        super().__init__("; ".join(f"{path or '(campaign)'}: {why}" for path, why in problems))


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _clock_time(value: str) -> time:
    if not CLOCK.match(value):
        raise ValueError(f"expected HH:MM, got {value!r}")
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


class QuietHours(_Model):
    """A daily local window during which nothing is sent, e.g. 21:00-08:00 (wraps past midnight)."""

    start: time
    end: time

    @classmethod
    def parse(cls, text: str) -> QuietHours:
        start, sep, end = text.partition("-")
        if not sep:
            raise ValueError(f"quiet hours look like 21:00-08:00, got {text!r}")
        return cls(start=_clock_time(start.strip()), end=_clock_time(end.strip()))

    def contains(self, moment: time) -> bool:
        if self.start <= self.end:
            return self.start <= moment < self.end
        return moment >= self.start or moment < self.end


class VariantSpec(_Model):
    """One A/B/n arm: a template per channel (or one name for the campaign's channels) and a weight."""

    name: str = Field(min_length=1, max_length=32)
    template: str | dict[Channel, str]
    weight: int = Field(default=1, ge=1, le=10_000)
    subject: str | None = None  # overrides the email template's subject for this arm

    def template_for(self, channel: str) -> str | None:
        if isinstance(self.template, str):
            return self.template
        return self.template.get(channel)  # type: ignore[call-overload]


class TestPhase(_Model):
    """Send the variants to `share` of the audience first; after `wait`, the best by `metric` goes to the rest."""

    __test__ = False  # not a pytest class
    share: float = Field(gt=0, lt=1)
    metric: Literal["opens", "clicks", "conversions"] = "clicks"
    wait: str = "4h"

    @field_validator("wait")
    @classmethod
    def _duration(cls, value: str) -> str:
        as_duration(value)
        return value

    def decided_at(self, test_started: datetime) -> datetime:
        """When the winner is chosen: `wait` after the test messages started going out."""
        return shift(test_started, self.wait, sign=1)


class FrequencyCap(_Model):
    """At most `max` marketing messages per contact on a channel within `days` days, across campaigns."""

    max: int = Field(ge=0)
    days: float = Field(gt=0)


class Policies(_Model):
    """Frequency caps per channel and the error rate beyond which the campaign pauses itself."""

    frequency_cap: dict[Channel, FrequencyCap] = Field(default_factory=dict)
    max_error_rate: float = Field(default=0.2, gt=0, le=1)
    min_sample: int = Field(default=50, ge=1)  # attempts before the error rate is judged


class PriceRule(_Model):
    """What one message costs: `per_message` + `per_part` × parts (SMS segments, letter pages).

    Fields left empty match anything; the most specific matching rule wins.
    """

    channel: Channel | None = None
    provider: str | None = None
    country: str | None = None
    postage_class: str | None = None
    per_message: Decimal = Decimal(0)
    per_part: Decimal = Decimal(0)

    @property
    def specificity(self) -> int:
        return sum(value is not None for value in (self.channel, self.provider, self.country, self.postage_class))


class Schedule(_Model):
    """When to send: an instant (`at`), or a local clock time in each contact's timezone (`local_time`)."""

    at: datetime | None = None
    local_time: str | None = None  # "09:00": on the day of `at` (or the next one) in each contact's timezone
    send_window_hours: float | None = Field(default=None, gt=0)  # nothing goes later than start + this

    @field_validator("local_time")
    @classmethod
    def _clock(cls, value: str | None) -> str | None:
        if value is not None:
            _clock_time(value)
        return value

    @field_validator("at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("give a timezone offset (e.g. 2026-12-01T09:00:00+01:00)")
        return value


class SendOptions(_Model):
    """What and how to send — channels, content, A/B arms, timing and policies: the part of a campaign document a
    journey's send step carries too (so a key added here works for campaigns and journey steps alike)."""

    channel: Channel | list[Channel]
    template: str | dict[Channel, str] | None = None
    variants: list[VariantSpec] = Field(default_factory=list)
    schedule: Schedule | None = None
    quiet_hours: dict[Channel, dict[str, str] | None] = Field(default_factory=dict)
    policies: Policies = Field(default_factory=Policies)
    budget: Decimal | None = Field(default=None, gt=0)
    currency: str = Field(default="EUR", pattern=r"^[A-Z]{3}$")
    costs: dict[str, Any] = Field(default_factory=dict)
    utm: dict[str, str] = Field(default_factory=dict)
    postage_class: str = "lettre-verte"
    topic: str = "marketing"
    survey: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9_.-]{0,119}$")  # invites to this survey

    @field_validator("schedule", mode="before")
    @classmethod
    def _schedule_shorthand(cls, value: Any) -> Any:
        if isinstance(value, str | datetime):
            return {"at": value}
        return value

    @field_validator("quiet_hours")
    @classmethod
    def _quiet(cls, value: dict[str, dict[str, str] | None]) -> dict[str, dict[str, str] | None]:
        for windows in value.values():
            for country, text in (windows or {}).items():
                if country != "default" and not re.match(r"^[A-Z]{2}$", country):
                    raise ValueError(f"quiet hours are keyed by 'default' or an ISO country code, not {country!r}")
                QuietHours.parse(text)
        return value

    @field_validator("utm", mode="before")
    @classmethod
    def _utm_keys(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {(key if str(key).startswith("utm_") else f"utm_{key}"): str(item) for key, item in value.items()}
        return value

    @model_validator(mode="after")
    def _coherent(self) -> SendOptions:
        problems = _send_problems(self)
        if problems:
            raise CampaignDefinitionError(problems)
        return self

    # -- derived views ----------------------------------------------------------------------------------
    @property
    def channels(self) -> list[str]:
        """The channels in fallback order (one for a single-channel send)."""
        return [self.channel] if isinstance(self.channel, str) else list(self.channel)

    def arms(self) -> list[VariantSpec]:
        """The A/B/n arms; a send without variants has one arm, "A", with its template."""
        if self.variants:
            return list(self.variants)
        assert self.template is not None
        return [VariantSpec(name="A", template=self.template, weight=1)]

    def quiet_hours_for(self, channel: str, country: str | None) -> QuietHours | None:
        """The quiet hours of a channel in a country (country rule, else the channel default, else none)."""
        configured: dict[str, Any] = {str(key): value for key, value in self.quiet_hours.items()}
        windows = configured[channel] if channel in configured else DEFAULT_QUIET_HOURS.get(channel)
        if not windows:
            return None
        text = windows.get(country or "") or windows.get("default")
        return QuietHours.parse(text) if text else None

    def fixed_cost(self) -> Decimal:
        return Decimal(str(self.costs.get("fixed", 0)))

    def price_rules(self) -> list[PriceRule]:
        """The send's own prices: `{per_message, per_part}` for all channels, or per channel."""
        rules = []
        flat = {key: self.costs[key] for key in ("per_message", "per_part") if key in self.costs}
        if flat:
            rules += [PriceRule(channel=channel, **flat) for channel in self.channels]
        for channel in CHANNELS:
            if isinstance(self.costs.get(channel), dict):
                rules.append(PriceRule(channel=channel, **self.costs[channel]))
        return rules

    def to_json(self) -> dict[str, Any]:
        return json.loads(self.model_dump_json(exclude_defaults=True))


class CampaignDefinition(SendOptions):
    """A campaign document; every key but name, audience, channel and content is optional. A campaign that backs a
    journey's send step names its `journey` instead of an audience (the journey's enrollments are its audience)."""

    name: str
    description: str | None = None
    segment: str | None = None
    segments: list[str] = Field(default_factory=list)
    exclude_segments: list[str] = Field(default_factory=list)
    test: TestPhase | None = None
    holdout: float = Field(default=0.0, ge=0, lt=1)
    journey: str | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not NAME.match(value):
            raise ValueError("a name is 1-120 letters, digits, spaces, '.', '_' or '-', starting with a letter/digit")
        return value

    @model_validator(mode="after")
    def _coherent(self) -> CampaignDefinition:
        problems = _problems(self)
        if problems:
            raise CampaignDefinitionError(problems)
        return self

    @property
    def audience(self) -> list[str]:
        return ([self.segment] if self.segment else []) + [name for name in self.segments if name != self.segment]

    def utm_for(self, channel: str) -> dict[str, str]:
        return {"utm_source": "relance", "utm_medium": channel, "utm_campaign": self.name, **self.utm}


def _problems(definition: CampaignDefinition) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    if not definition.audience and definition.journey is None:
        problems.append(("segment", "name the audience: `segment: NAME` or `segments: [A, B]`"))
    problems += _send_problems(definition)
    if definition.test is not None and len(definition.variants) < 2:
        problems.append(("test", "a test phase needs at least two variants"))
    return problems


def _send_problems(options: SendOptions) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    channels = options.channels
    if not channels or len(set(channels)) != len(channels):
        problems.append(("channel", "give one channel or a fallback list without repeats"))
    problems += _content_problems(options)
    for key in options.costs:
        if key not in ("fixed", "per_message", "per_part", *CHANNELS):
            problems.append((f"costs.{key}", "use fixed, per_message, per_part or a channel name"))
    return problems


def _content_problems(options: SendOptions) -> list[tuple[str, str]]:
    if options.template is None and not options.variants:
        return [("template", "give a template (or variants)")]
    if options.template is not None and options.variants:
        return [("variants", "give either template or variants, not both")]
    names = [variant.name for variant in options.variants]
    if len(set(names)) != len(names):
        return [("variants", "variant names must be unique")]
    return [(f"variants[{index}].template" if options.variants else "template", f"no template for {channel}")
            for index, arm in enumerate(options.arms()) for channel in options.channels
            if not arm.template_for(channel)]


TYPE_TAGS = frozenset({"str", "int", "float", "bool", "dict", "list", "tuple", "none", "decimal", "date", "datetime"})


def _path(location: tuple[Any, ...]) -> str:
    """`variants[1].template` from pydantic's location, without the tags of union members (`literal[...]`)."""
    path = ""
    for part in location:
        if isinstance(part, int):
            path += f"[{part}]"
        elif str(part).isidentifier() and str(part) not in TYPE_TAGS:
            path += f".{part}" if path else str(part)
    return path


def _problems_of(error: ValidationError) -> list[tuple[str, str]]:
    """One line per path: union members' complaints joined with "or", the offending value quoted."""
    found: dict[str, list[str]] = {}
    for item in error.errors():
        inner = item.get("ctx", {}).get("error")
        if isinstance(inner, CampaignDefinitionError):
            for path, why in inner.problems:
                found.setdefault(path, []).append(why)
            continue
        value = item.get("input")
        shown = f" (got {value!r})" if isinstance(value, str | int | float) and not isinstance(value, bool) else ""
        message = f"{item['msg']}{shown}"
        reasons = found.setdefault(_path(item["loc"]), [])
        if message not in reasons:
            reasons.append(message)
    return [(path, " or ".join(reasons)) for path, reasons in found.items()]


def parse_send_options(document: Any) -> SendOptions:
    """Validated send options (a journey's send step); raises CampaignDefinitionError naming each problem's path."""
    if not isinstance(document, dict):
        raise CampaignDefinitionError([("", "a send is a mapping of keys (channel, template, ...)")])
    try:
        return SendOptions.model_validate(document)
    except ValidationError as exc:
        raise CampaignDefinitionError(_problems_of(exc)) from None


def parse_campaign(document: dict[str, Any]) -> CampaignDefinition:
    """A validated campaign; raises CampaignDefinitionError naming the path of every problem."""
    if not isinstance(document, dict):
        raise CampaignDefinitionError([("", "a campaign is a mapping of keys (name, segment, channel, ...)")])
    try:
        return CampaignDefinition.model_validate(document)
    except ValidationError as exc:
        raise CampaignDefinitionError(_problems_of(exc)) from None


def load_campaign(path: str | Path) -> CampaignDefinition:
    """Read a campaign from a YAML or JSON file."""
    text = Path(path).read_text(encoding="utf-8")
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise CampaignDefinitionError([("", f"{path} is not valid YAML: {exc}")]) from None
    return parse_campaign(document)
