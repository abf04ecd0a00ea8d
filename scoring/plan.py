"""The YAML scoring plan: fit and negative points (segment-language conditions), decayed behaviour points, stages."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from segments.language import SegmentDefinitionError, parse_node

DURATION = re.compile(r"^\s*(\d{1,5}(?:\.\d+)?)\s*([hdw])\s*$")
UNIT_DAYS = {"h": 1 / 24, "d": 1.0, "w": 7.0}
STAGES = ("subscriber", "lead", "mql", "sql", "customer")


class PlanError(ValueError):
    """A scoring plan that cannot be used; the message names the path of each problem."""


def days(value: str | float | int) -> float:
    """'14d', '36h', '2w' or a number of days → days."""
    if isinstance(value, int | float):
        return float(value)
    match = DURATION.match(value)
    if not match:
        raise ValueError(f"{value!r} is not a duration like 14d, 36h or 2w")
    return float(match.group(1)) * UNIT_DAYS[match.group(2)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ConditionRule(_Strict):
    """Points given once to every contact matching a segment-language condition (`when`)."""

    name: str | None = None
    points: float
    when: dict[str, Any]

    @field_validator("when")
    @classmethod
    def _valid_condition(cls, value: dict[str, Any]) -> dict[str, Any]:
        try:
            parse_node(value)
        except SegmentDefinitionError as exc:
            raise ValueError(f"not a valid segment condition: {exc}") from None
        return value

    @property
    def label(self) -> str:
        if self.name:
            return self.name
        if "field" in self.when:
            return " ".join(str(self.when.get(key, "")) for key in ("field", "op", "value")).strip()
        return ", ".join(f"{key}: {value}" for key, value in self.when.items())


class BehaviourRule(_Strict):
    """`points` per event of a type, halved every `half_life`, the rule's total capped at `cap`."""

    name: str | None = None
    event: str
    points: float
    half_life: float | None = None  # days; None = no decay
    cap: float | None = None
    within: float | None = None  # days; older events are ignored (default: 10 half-lives, under 0.1 %)
    where: dict[str, str | int | float] = Field(default_factory=dict)  # event property equals value

    @field_validator("half_life", "within", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        return None if value is None else days(value)

    @model_validator(mode="after")
    def _sane(self) -> BehaviourRule:
        if self.half_life is not None and self.half_life <= 0:
            raise ValueError("half_life must be positive")
        if self.cap is not None and self.cap <= 0:
            raise ValueError("cap is a size (positive); it limits negative rules from below")
        return self

    @property
    def label(self) -> str:
        return self.name or self.event

    @property
    def horizon(self) -> float | None:
        if self.within is not None:
            return self.within
        return 10 * self.half_life if self.half_life else None


class StageThreshold(_Strict):
    """A stage is reached when the rule score OR the predicted probability reaches its threshold."""

    score: float | None = None
    predicted_score: float | None = None


class Lifecycle(_Strict):
    """Thresholds that move contacts subscriber → lead → mql → sql; conversion makes a customer."""

    lead: StageThreshold | None = None
    mql: StageThreshold | None = None
    sql: StageThreshold | None = None
    customer_on_conversion: bool = True
    conversion_kinds: list[str] = Field(default_factory=list)  # empty = any kind


class ScoringPlan(_Strict):
    """The whole plan, as written in YAML."""

    name: str = "default"
    fit: list[ConditionRule] = Field(default_factory=list)
    behaviour: list[BehaviourRule] = Field(default_factory=list)
    negative: list[ConditionRule] = Field(default_factory=list)
    min_score: int | None = None
    max_score: int | None = None
    lifecycle: Lifecycle = Field(default_factory=Lifecycle)

    @field_validator("negative")
    @classmethod
    def _negative_points(cls, rules: list[ConditionRule]) -> list[ConditionRule]:
        for rule in rules:
            if rule.points >= 0:
                raise ValueError(f"negative rule '{rule.label}' must give points below zero")
        return rules


def _path(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) if isinstance(part, str) else f"[{part}]" for part in loc).replace(".[", "[")


def parse_plan(data: Any) -> ScoringPlan:
    """A validated plan from its dict form; raises PlanError naming the path of each problem."""
    if not isinstance(data, dict):
        raise PlanError("a scoring plan is a mapping with fit, behaviour, negative and lifecycle sections")
    try:
        return ScoringPlan.model_validate(data)
    except ValidationError as exc:
        problems = [f"{_path(tuple(error['loc'])) or '(plan)'}: {str(error['msg']).removeprefix('Value error, ')}"
                    for error in exc.errors()]
        raise PlanError("; ".join(problems)) from None


def load_plan(path: str | Path) -> ScoringPlan:
    """Read and validate a YAML (or JSON) scoring plan file."""
    file = Path(path)
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise PlanError(f"cannot read scoring plan {file}: {exc}") from None
    return parse_plan(data)
