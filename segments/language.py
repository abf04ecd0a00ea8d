"""The segment language: a frozen pydantic tagged union of conditions, parsed from YAML/JSON with path-named errors."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from segments.catalogue import UnknownField, lookup
from segments.values import COMPARATORS, as_duration, as_iso_date, as_ordered, check_value

EVENT_TYPE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$")
PROPERTY_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
SEGMENT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\- ]{0,119}$")
CHANNEL = Literal["email", "sms", "mail"]


class SegmentDefinitionError(ValueError):
    """A definition that cannot be used; `problems` lists (path, why) pairs, the message names each path."""

    def __init__(self, problems: list[tuple[str, str]]):
        self.problems = problems
        super().__init__("; ".join(f"{path or '(definition)'}: {why}" for path, why in problems))


class _Node(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class FieldCondition(_Node):
    """`{field: country, op: eq, value: FR}` on a contact column, `attributes.*` or `account.*`."""

    field: str
    op: Literal[
        "eq", "ne", "in", "not_in", "contains", "starts_with", "ends_with", "gt", "gte", "lt", "lte",
        "between", "is_set", "is_not_set", "before", "after", "within", "within_next", "older_than",
        "anniversary_within",
    ]
    value: Any = Field(default=None, validate_default=True)

    @field_validator("field")
    @classmethod
    def _known_field(cls, value: str) -> str:
        try:
            lookup(value)
        except UnknownField as exc:
            raise ValueError(str(exc)) from None
        return value

    @field_validator("op")
    @classmethod
    def _op_fits_field(cls, value: str, info: ValidationInfo) -> str:
        if "field" in info.data:
            spec = lookup(info.data["field"])
            if value not in spec.operators:
                raise ValueError(f"{value} does not apply to {spec.type} field {spec.path}; use one of "
                                 f"{', '.join(sorted(spec.operators))}")
        return value

    @field_validator("value")
    @classmethod
    def _value_fits_op(cls, value: Any, info: ValidationInfo) -> Any:
        if "field" not in info.data or "op" not in info.data:
            return value
        return check_value(info.data["op"], value, lookup(info.data["field"]).type)


class Comparison(_Node):
    """Numeric bounds, all of which must hold: `{gte: 2}`, `{gt: 10, lte: 50}`, `{eq: 0}`."""

    eq: float | None = None
    ne: float | None = None
    gt: float | None = None
    gte: float | None = None
    lt: float | None = None
    lte: float | None = None

    @model_validator(mode="after")
    def _at_least_one(self) -> Comparison:
        if not self.bounds():
            raise ValueError("give at least one of eq, ne, gt, gte, lt, lte")
        return self

    def bounds(self) -> list[tuple[str, float]]:
        ops = ("eq", "ne", "gt", "gte", "lt", "lte")
        return [(op, getattr(self, op)) for op in ops if getattr(self, op) is not None]

    def holds(self, number: float) -> bool:
        """Whether `number` satisfies every bound (the Python reading of the same comparison)."""
        return all(COMPARATORS[op](number, bound) for op, bound in self.bounds())


class PropertyMatch(_Node):
    """A filter on one event property: `{contains: pricing}`, `{in: [a, b]}`, `{gte: 3}`."""

    op: Literal["eq", "ne", "in", "contains", "starts_with", "ends_with", "gt", "gte", "lt", "lte"]
    value: Any

    @model_validator(mode="before")
    @classmethod
    def _from_shorthand(cls, data: Any) -> Any:
        if isinstance(data, dict) and "op" not in data and len(data) == 1:
            ((op, value),) = data.items()
            return {"op": op, "value": value}
        if isinstance(data, list | tuple):
            return {"op": "in", "value": data}
        if not isinstance(data, dict):
            return {"op": "eq", "value": data}
        return data

    @field_validator("value")
    @classmethod
    def _value_fits_op(cls, value: Any, info: ValidationInfo) -> Any:
        if "op" not in info.data:
            return value
        op = info.data["op"]
        if op in ("gt", "gte", "lt", "lte"):
            return as_ordered(value, "any")
        return check_value(op, value, "any")


class EventCondition(_Node):
    """Behaviour: `{event: email.clicked, within: 30d, where: {url: {contains: pricing}}, count: {gte: 2}}`."""

    event: str
    within: str | None = None
    after: str | None = None
    before: str | None = None
    campaign: int | None = None
    where: dict[str, PropertyMatch] = Field(default_factory=dict)
    count: Comparison = Field(default_factory=lambda: Comparison(gte=1))

    @field_validator("event")
    @classmethod
    def _event_type(cls, value: str) -> str:
        if not EVENT_TYPE.match(value):
            raise ValueError(f"event type {value!r} should look like email.clicked")
        return value

    @field_validator("within")
    @classmethod
    def _within(cls, value: Any) -> Any:
        return None if value is None else as_duration(value)

    @field_validator("after", "before", mode="before")
    @classmethod
    def _dates(cls, value: Any) -> Any:
        return None if value is None else as_iso_date(value)

    @field_validator("where")
    @classmethod
    def _property_names(cls, value: dict[str, PropertyMatch]) -> dict[str, PropertyMatch]:
        for key in value:
            if not PROPERTY_KEY.match(key):
                raise ValueError(f"property name {key!r} must be letters, digits and _")
        return value


def _as_names(value: Any) -> tuple[str, ...]:
    items = value if isinstance(value, list | tuple) else [value]
    if not items or not all(isinstance(item, str) and item for item in items):
        raise ValueError("expected a name or a non-empty list of names")
    return tuple(items)


class TagCondition(_Node):
    """`{tag: vip}` or `{tag: [vip, partner]}`: carries any of these tags."""

    tag: tuple[str, ...]

    @field_validator("tag", mode="before")
    @classmethod
    def _split(cls, value: Any) -> tuple[str, ...]:
        return _as_names(value)


class SegmentCondition(_Node):
    """`{segment: newsletter-subscribers}`: currently a member of that segment."""

    segment: str


class StageCondition(_Node):
    """`{lifecycle_stage: [lead, mql]}`."""

    lifecycle_stage: tuple[str, ...]

    @field_validator("lifecycle_stage", mode="before")
    @classmethod
    def _split(cls, value: Any) -> tuple[str, ...]:
        return _as_names(value)


class GradeCondition(_Node):
    """`{grade: [A, B]}`."""

    grade: tuple[str, ...]

    @field_validator("grade", mode="before")
    @classmethod
    def _split(cls, value: Any) -> tuple[str, ...]:
        return _as_names(value)


class ScoreCondition(_Node):
    """`{score: {gte: 50}}` on the lead score."""

    score: Comparison


class ReachableCondition(_Node):
    """`{reachable: email}`: consent given (mail: not withdrawn), not suppressed, address present and valid."""

    reachable: CHANNEL


SurveyStatus = Literal["invited", "started", "completed"]


class SurveyCondition(_Node):
    """`{survey: nps-2026, status: invited}`: invited and not answered yet (the invitation went out), `started`
    (some pages saved) or `completed`; a list means any of them; no status means invited at all."""

    survey: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,119}$")
    status: tuple[SurveyStatus, ...] = ("invited", "started", "completed")

    @field_validator("status", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        return _as_names(value)


class AllNode(_Node):
    """Every child holds (an empty list holds for everyone)."""

    all: tuple[Node, ...]


class AnyNode(_Node):
    """At least one child holds."""

    any: tuple[Node, ...]


class NotNode(_Node):
    """The child does not hold."""

    not_: Node = Field(alias="not")


_KEYS = {
    "all": AllNode, "any": AnyNode, "not": NotNode, "field": FieldCondition, "event": EventCondition,
    "tag": TagCondition, "segment": SegmentCondition, "lifecycle_stage": StageCondition,
    "grade": GradeCondition, "score": ScoreCondition, "reachable": ReachableCondition, "survey": SurveyCondition,
}
_TAG_OF_CLASS = {cls: f"node:{key}" for key, cls in _KEYS.items()}


def _node_kind(data: Any) -> str | None:
    if isinstance(data, BaseModel):
        return _TAG_OF_CLASS.get(type(data))
    if isinstance(data, dict):
        for key in _KEYS:
            if key in data:
                return f"node:{key}"
    return None


Node = Annotated[
    Annotated[AllNode, Tag("node:all")] | Annotated[AnyNode, Tag("node:any")] | Annotated[NotNode, Tag("node:not")]
    | Annotated[FieldCondition, Tag("node:field")] | Annotated[EventCondition, Tag("node:event")]
    | Annotated[TagCondition, Tag("node:tag")] | Annotated[SegmentCondition, Tag("node:segment")]
    | Annotated[StageCondition, Tag("node:lifecycle_stage")] | Annotated[GradeCondition, Tag("node:grade")]
    | Annotated[ScoreCondition, Tag("node:score")] | Annotated[ReachableCondition, Tag("node:reachable")]
    | Annotated[SurveyCondition, Tag("node:survey")],
    Discriminator(
        _node_kind,
        custom_error_type="unknown_condition",
        custom_error_message="not a condition: expected a mapping with one of the keys " + ", ".join(_KEYS),
    ),
]
Leaf = (FieldCondition | EventCondition | TagCondition | SegmentCondition | StageCondition | GradeCondition
        | ScoreCondition | ReachableCondition | SurveyCondition)

for _model in (AllNode, AnyNode, NotNode):
    _model.model_rebuild()


class SegmentDefinition(_Node):
    """A whole definition: `match` combines the top-level `conditions`."""

    name: str | None = None
    description: str | None = None
    kind: Literal["dynamic", "static"] = "dynamic"
    match: Literal["all", "any"] = "all"
    conditions: tuple[Node, ...] = ()

    @field_validator("name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        if value is not None and not SEGMENT_NAME.match(value):
            raise ValueError("a segment name is 1-120 letters, digits, spaces, '-', '_' or '.'")
        return value

    @property
    def root(self) -> AllNode | AnyNode:
        """The top-level conditions as one node."""
        return AllNode(all=self.conditions) if self.match == "all" else AnyNode(any=self.conditions)

    def to_json(self) -> dict[str, Any]:
        """The JSON form stored in `segments.definition` (round-trips through parse_definition)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True, exclude_defaults=True) | {
            "match": self.match, "conditions": [node_json(node) for node in self.conditions]}


def node_json(node: BaseModel) -> dict[str, Any]:
    """The JSON form of one node (aliases, no defaults)."""
    return node.model_dump(mode="json", by_alias=True, exclude_none=True, exclude_defaults=True) | (
        {"count": node.count.model_dump(exclude_none=True)} if isinstance(node, EventCondition) else {})


def _path(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif not part.startswith("node:") and part not in ("function-after[_from_shorthand(), PropertyMatch]",):
            text += f".{part}" if text else part
    return text


def _problem(error: Any) -> tuple[str, str]:
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = "unknown key"
    return _path(tuple(error["loc"])), message


def parse_definition(data: Any) -> SegmentDefinition:
    """A validated definition from its dict form; raises SegmentDefinitionError naming each bad node's path."""
    if not isinstance(data, dict):
        raise SegmentDefinitionError([("", "a definition is a mapping with `conditions` (and optional match, name)")])
    try:
        return SegmentDefinition.model_validate(data)
    except ValidationError as exc:
        raise SegmentDefinitionError([_problem(error) for error in exc.errors()]) from None


def parse_node(data: Any) -> Leaf | AllNode | AnyNode | NotNode:
    """One condition node (what lead scoring's fit rules hold); errors name the path inside the node."""
    try:
        return parse_definition({"conditions": [data]}).conditions[0]
    except SegmentDefinitionError as exc:
        inner = [(path.removeprefix("conditions[0]").lstrip("."), why) for path, why in exc.problems]
        raise SegmentDefinitionError(inner) from None


def load_definition(path: str | Path) -> SegmentDefinition:
    """Read a definition from a .yaml/.yml/.json file; the file name gives the name when none is set."""
    file = Path(path)
    text = file.read_text(encoding="utf-8")
    try:
        data = json.loads(text) if file.suffix.lower() == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        kind = "JSON" if file.suffix.lower() == ".json" else "YAML"
        raise SegmentDefinitionError([("", f"{file.name} is not valid {kind}: {exc}")]) from None
    if isinstance(data, dict) and "name" not in data:
        data = {"name": file.stem, **data}
    return parse_definition(data)
