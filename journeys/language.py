"""The journey language: a pydantic model of the YAML document (trigger, re-entry, goal, exits, holdout, shared
policies and steps), parsed with errors that name the path of each bad node."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, ValidationError, field_validator

from campaigns.definition import Policies
from journeys.clocktime import Duration, clock_time

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\- ]{0,79}$")
STEP_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
DID = ("sent", "delivered", "opened", "clicked", "bounced", "failed", "unsubscribed")
RESERVED_REASONS = ("goal", "erased", "end", "exit step", "archived")  # how the engine itself ends enrollments
UPDATABLE = ("first_name", "last_name", "company", "job_title", "language", "country", "timezone", "source")


class JourneyDefinitionError(ValueError):
    """A journey document that cannot be used; `problems` lists (path, why) pairs, the message names each path."""

    def __init__(self, problems: list[tuple[str, str]]):
        self.problems = problems
        super().__init__("; ".join(f"{path or '(journey)'}: {why}" for path, why in problems))


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _duration(value: Any) -> str:
    Duration.parse(value)
    return str(value).strip()


# -- triggers --------------------------------------------------------------------------------------------------
class SegmentTrigger(_Model):
    """`segment: NAME`: contacts enroll when they enter the segment (`segment.entered`); `include_members` also
    enrolls those already in it when the journey is first published."""

    segment: str = Field(min_length=1)
    include_members: bool = False


class EventTrigger(_Model):
    """`event: TYPE` with an optional `where:` on its properties (the segment language's property filters)."""

    event: str
    where: dict[str, Any] = Field(default_factory=dict)


class DateTrigger(_Model):
    """`date: FIELD`: the anniversary of a contact date field (`birth_date`, `attributes.renewal_date`), at a local
    time in each contact's timezone."""

    date: str
    at: str = "09:00"

    @field_validator("at")
    @classmethod
    def _at(cls, value: str) -> str:
        clock_time(value)
        return value


def _trigger_kind(data: Any) -> str | None:
    if data == "manual":
        return "manual"
    if isinstance(data, BaseModel):
        tags: dict[type[BaseModel], str] = {SegmentTrigger: "segment", EventTrigger: "event", DateTrigger: "date"}
        return tags.get(type(data))
    if isinstance(data, dict):
        for key in ("segment", "event", "date"):
            if key in data:
                return key
    return None


Trigger = Annotated[
    Annotated[SegmentTrigger, Tag("segment")] | Annotated[EventTrigger, Tag("event")]
    | Annotated[DateTrigger, Tag("date")] | Annotated[Literal["manual"], Tag("manual")],
    Discriminator(_trigger_kind, custom_error_type="unknown_trigger",
                  custom_error_message="a trigger is `manual` or a mapping with segment, event or date"),
]


class ReEntryAfter(_Model):
    """`after: 90d`: a contact may enroll again once this long has passed since its last entry."""

    after: str


# -- steps ------------------------------------------------------------------------------------------------------
class _Step(_Model):
    id: str

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not STEP_ID.match(value):
            raise ValueError("a step id is 1-32 lowercase letters, digits, '-' or '_', starting with a letter/digit")
        return value


class SendStep(_Step):
    """`send:` the campaigns' send options (channel or fallback, template per channel, variants, ...)."""

    send: dict[str, Any]
    goto: str | None = None


class WaitSpec(_Model):
    """A wait: `for` a duration, `until` a local time (on some weekdays), or `for_event` with a timeout."""

    for_: str | None = Field(default=None, alias="for")
    until: str | None = None
    weekdays: tuple[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"], ...] = ()
    for_event: str | None = None
    where: dict[str, Any] = Field(default_factory=dict)
    step: str | None = None  # the event must be about the message of this send step
    timeout: str | None = None
    on_event: str | None = None
    on_timeout: str | None = None

    @field_validator("for_", "timeout")
    @classmethod
    def _durations(cls, value: str | None) -> str | None:
        return None if value is None else _duration(value)

    @field_validator("until")
    @classmethod
    def _until(cls, value: str | None) -> str | None:
        if value is not None:
            clock_time(value)
        return value

    def kinds(self) -> list[str]:
        return [name for name, value in (("for", self.for_), ("until", self.until), ("for_event", self.for_event))
                if value is not None]


class WaitStep(_Step):
    """`wait: 2d`, `wait: {until: "09:00", weekdays: [mon, tue]}` or `wait: {for_event: ..., timeout: 3d}`."""

    wait: WaitSpec
    goto: str | None = None

    @field_validator("wait", mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return {"for": value} if isinstance(value, str) else value


class BranchRule(_Model):
    """One rule of a branch: `if:` a condition, `goto:` a step; or the final `else:` step."""

    if_: dict[str, Any] | None = Field(default=None, alias="if")
    goto: str | None = None
    else_: str | None = Field(default=None, alias="else")


class BranchStep(_Step):
    """Ordered `if:` conditions with their `goto`, then an `else` (default: the next step)."""

    branch: tuple[BranchRule, ...] = Field(min_length=1)


class SplitArm(_Model):
    weight: int = Field(ge=1, le=10_000)
    goto: str


class SplitStep(_Step):
    """A random split: each enrollment takes an arm with probability proportional to its weight."""

    split: tuple[SplitArm, ...] = Field(min_length=2)


class UpdateSpec(_Model):
    """Contact changes: `set` fields or `attributes.*`, add/remove tags, add score points, change the stage."""

    set: dict[str, Any] = Field(default_factory=dict)
    add_tags: tuple[str, ...] = ()
    remove_tags: tuple[str, ...] = ()
    score: int | None = None
    lifecycle_stage: str | None = Field(default=None, min_length=1, max_length=32)

    @field_validator("set")
    @classmethod
    def _fields(cls, value: dict[str, Any]) -> dict[str, Any]:
        for key, item in value.items():
            if key in ("lifecycle_stage", "score"):
                raise ValueError(f"use `{key}:` for the {key.replace('_', ' ')}, not set")
            if not (key in UPDATABLE or (key.startswith("attributes.") and re.match(r"^[A-Za-z_]\w{0,63}$",
                                                                                     key[11:]))):
                raise ValueError(f"cannot set {key!r}: use one of {', '.join(UPDATABLE)} or attributes.<name>")
            if not isinstance(item, str | int | float | bool | type(None)):
                raise ValueError(f"{key}: a value is text, a number, true/false or null")
        return value


class UpdateStep(_Step):
    update: UpdateSpec
    goto: str | None = None


class ExitStep(_Step):
    """`exit: true` (or a reason): the enrollment ends here, completed."""

    exit: bool | str


STEP_KEYS = ("send", "wait", "branch", "split", "update", "exit")


def _step_kind(data: Any) -> str | None:
    if isinstance(data, BaseModel):
        tags: dict[type[BaseModel], str] = {SendStep: "send", WaitStep: "wait", BranchStep: "branch",
                                            SplitStep: "split", UpdateStep: "update", ExitStep: "exit"}
        return tags.get(type(data))
    if isinstance(data, dict):
        found = [key for key in STEP_KEYS if key in data]
        return found[0] if len(found) == 1 else None
    return None


Step = Annotated[
    Annotated[SendStep, Tag("send")] | Annotated[WaitStep, Tag("wait")] | Annotated[BranchStep, Tag("branch")]
    | Annotated[SplitStep, Tag("split")] | Annotated[UpdateStep, Tag("update")] | Annotated[ExitStep, Tag("exit")],
    Discriminator(_step_kind, custom_error_type="unknown_step",
                  custom_error_message="a step has an `id` and exactly one of " + ", ".join(STEP_KEYS)),
]


def kind_of(step: BaseModel) -> str:
    """send | wait | branch | update | exit (a split is a kind of branch)."""
    kind = _step_kind(step) or "exit"
    return "branch" if kind == "split" else kind


# -- the document -----------------------------------------------------------------------------------------------
class JourneyDocument(_Model):
    """A whole journey. Policies at the top (quiet hours, caps, costs, UTM, topic...) apply to every send step,
    which may override them; `budget` and `costs.fixed` are the journey's own."""

    name: str
    description: str | None = None
    trigger: Trigger
    re_entry: Any = None
    goal: dict[str, Any] | None = None
    exit_when: tuple[dict[str, Any], ...] = ()
    holdout: float = Field(default=0.0, ge=0, le=0.5)
    quiet_hours: dict[str, Any] = Field(default_factory=dict)
    policies: Policies = Field(default_factory=Policies)
    budget: Decimal | None = Field(default=None, gt=0)
    currency: str = Field(default="EUR", pattern=r"^[A-Z]{3}$")
    costs: dict[str, Any] = Field(default_factory=dict)
    utm: dict[str, str] = Field(default_factory=dict)
    postage_class: str | None = None
    topic: str | None = None
    steps: tuple[Step, ...] = Field(min_length=1)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not NAME.match(value):
            raise ValueError("a journey name is 1-80 letters, digits, spaces, '.', '_' or '-', starting with a "
                             "letter or digit")
        return value

    @field_validator("re_entry")
    @classmethod
    def _re_entry(cls, value: Any) -> Any:
        if value is None or value in ("never", "always"):
            return value
        if isinstance(value, dict) and set(value) == {"after"}:
            return ReEntryAfter(after=_duration(value["after"]))
        raise ValueError("re_entry is never, always or {after: 90d}")

    @property
    def trigger_kind(self) -> str:
        return _trigger_kind(self.trigger if isinstance(self.trigger, str) else self.trigger.model_dump()) or "manual"

    @property
    def re_entry_rule(self) -> str | ReEntryAfter:
        """never | always | after: the default is `never`, except for date triggers (one entry per anniversary)."""
        if self.re_entry is not None:
            return self.re_entry
        return "always" if isinstance(self.trigger, DateTrigger) else "never"

    def step(self, step_id: str) -> Any:
        return next(step for step in self.steps if step.id == step_id)

    def to_json(self) -> dict[str, Any]:
        return json.loads(self.model_dump_json(by_alias=True, exclude_defaults=True))


_ALIASES = {"for_": "for", "if_": "if", "else_": "else"}


def _is_union_tag(location: tuple[Any, ...], index: int) -> bool:
    """Whether `location[index]` names the member of a tagged union (a step's kind, a trigger's kind)."""
    if index >= 2 and location[index - 2] == "steps" and isinstance(location[index - 1], int):
        return True
    return index == 1 and location[0] == "trigger"


def _path(location: tuple[Any, ...]) -> str:
    """`steps[2].wait.for` from pydantic's location, without union tags (`steps[2].wait.wait.for`)."""
    text = ""
    for index, part in enumerate(location):
        if isinstance(part, int):
            text += f"[{part}]"
        elif not _is_union_tag(location, index) and str(part).isidentifier():
            name = _ALIASES.get(str(part), str(part))
            text += f".{name}" if text else name
    return text


def _problems_of(error: ValidationError) -> list[tuple[str, str]]:
    found: dict[str, list[str]] = {}
    errors = error.errors()
    deeper = {tuple(item["loc"][:-1]) for item in errors if item["loc"]} | {
        tuple(item["loc"][:index]) for item in errors for index in range(1, len(item["loc"]))}
    for item in errors:
        if item["type"] == "too_short" and tuple(item["loc"]) in deeper:
            continue  # a list whose items failed is not also "too short"
        message = str(item["msg"]).removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "unknown key"
        value = item.get("input")
        shown = isinstance(value, str | int | float) and not isinstance(value, bool) and repr(value) not in message
        if shown and item["type"] != "extra_forbidden":
            message += f" (got {value!r})"
        reasons = found.setdefault(_path(tuple(item["loc"])), [])
        if message not in reasons:
            reasons.append(message)
    return [(path, " or ".join(reasons)) for path, reasons in found.items()]


def parse_document(data: Any) -> JourneyDocument:
    """The journey document's shape (see journeys.checks for the graph, conditions, sends and references)."""
    if not isinstance(data, dict):
        raise JourneyDefinitionError([("", "a journey is a mapping with name, trigger and steps")])
    try:
        return JourneyDocument.model_validate(data)
    except ValidationError as exc:
        raise JourneyDefinitionError(_problems_of(exc)) from None


def read_document(path: str | Path) -> dict[str, Any]:
    """The raw document of a .yaml/.yml/.json file (its name is the file's stem when the document gives none)."""
    file = Path(path)
    if not file.exists():
        raise JourneyDefinitionError([("", f"no such file: {file}")])
    text = file.read_text(encoding="utf-8")
    try:
        data = json.loads(text) if file.suffix.lower() == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise JourneyDefinitionError([("", f"{file.name} is not valid YAML/JSON: {exc}")]) from None
    if isinstance(data, dict) and "name" not in data:
        data = {"name": file.stem, **data}
    if not isinstance(data, dict):
        raise JourneyDefinitionError([("", f"{file.name}: a journey is a mapping with name, trigger and steps")])
    return data
