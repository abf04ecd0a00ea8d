"""Skip logic: `visible_if` conditions on earlier answers — parsed with path-named errors, evaluated on answers."""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

Problems = list[tuple[str, str]]
COMPARATORS: dict[str, Callable[[Any, Any], bool]] = {
    "gt": operator.gt, "gte": operator.ge, "lt": operator.lt, "lte": operator.le}
OPERATORS = ("eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "contains", "answered")


@dataclass(frozen=True)
class Match:
    """One test on one earlier answer, e.g. `{nps: {lte: 6}}` or `{plan: [pro, team]}`."""

    question: str
    op: str
    value: Any

    def holds(self, answers: Mapping[str, Any]) -> bool:
        answer = answers.get(self.question)
        given = answer is not None and answer != [] and answer != ""
        if self.op == "answered":
            return given == bool(self.value)
        if not given:
            return False
        if self.op == "contains":
            return self.value in answer if isinstance(answer, list) else answer == self.value
        if isinstance(answer, list):  # a multiple choice matches when any chosen value does
            return any(Match(self.question, self.op, self.value).holds({self.question: item}) for item in answer)
        if self.op == "eq":
            return bool(answer == self.value)
        if self.op == "ne":
            return bool(answer != self.value)
        if self.op == "in":
            return answer in self.value
        if self.op == "not_in":
            return answer not in self.value
        if isinstance(answer, bool) or not isinstance(answer, int | float):
            return False
        return COMPARATORS[self.op](answer, self.value)


@dataclass(frozen=True)
class Combined:
    """`all` / `any` of conditions, or `not` of one (a single child)."""

    kind: str  # all | any | not
    children: tuple[Condition, ...]

    def holds(self, answers: Mapping[str, Any]) -> bool:
        if self.kind == "not":
            return not self.children[0].holds(answers)
        results = (child.holds(answers) for child in self.children)
        return all(results) if self.kind == "all" else any(results)


Condition = Match | Combined


def questions_of(condition: Condition) -> set[str]:
    """The question names a condition reads."""
    if isinstance(condition, Match):
        return {condition.question}
    return set().union(*(questions_of(child) for child in condition.children))


def parse_condition(data: Any, path: str, problems: Problems) -> Condition | None:
    """A condition from YAML; problems are appended with their path (None when unusable)."""
    if not isinstance(data, dict) or not data:
        problems.append((path, "a condition is a mapping: {question: value}, {question: {lte: 6}}, all/any/not"))
        return None
    parts: list[Condition] = []
    for key, value in data.items():
        part = _parse_entry(str(key), value, f"{path}.{key}", problems)
        if part is not None:
            parts.append(part)
    if len(parts) != len(data):
        return None
    return parts[0] if len(parts) == 1 else Combined("all", tuple(parts))


def _parse_entry(key: str, value: Any, path: str, problems: Problems) -> Condition | None:
    if key in ("all", "any"):
        if not isinstance(value, list) or not value:
            problems.append((path, f"{key} takes a non-empty list of conditions"))
            return None
        children = [parse_condition(item, f"{path}[{index}]", problems) for index, item in enumerate(value)]
        if any(child is None for child in children):
            return None
        return Combined(key, tuple(child for child in children if child is not None))
    if key == "not":
        child = parse_condition(value, path, problems)
        return None if child is None else Combined("not", (child,))
    return _parse_match(key, value, path, problems)


def _parse_match(question: str, value: Any, path: str, problems: Problems) -> Condition | None:
    if isinstance(value, list):
        return Match(question, "in", tuple(value))
    if not isinstance(value, dict):
        return Match(question, "eq", value)
    matches: list[Condition] = []
    for op, operand in value.items():
        if op not in OPERATORS:
            problems.append((f"{path}.{op}", f"unknown operator; use one of {', '.join(OPERATORS)}"))
            continue
        checked = _operand(str(op), operand, f"{path}.{op}", problems)
        if checked is not None:
            matches.append(Match(question, str(op), checked))
    if len(matches) != len(value) or not matches:
        if not value:
            problems.append((path, "give an operator, e.g. {lte: 6}"))
        return None
    return matches[0] if len(matches) == 1 else Combined("all", tuple(matches))


def _operand(op: str, operand: Any, path: str, problems: Problems) -> Any:
    if op in COMPARATORS:
        if isinstance(operand, bool) or not isinstance(operand, int | float):
            problems.append((path, f"{op} needs a number"))
            return None
        return operand
    if op in ("in", "not_in"):
        if not isinstance(operand, list) or not operand:
            problems.append((path, f"{op} needs a non-empty list"))
            return None
        return tuple(operand)
    if op == "answered" and not isinstance(operand, bool):
        problems.append((path, "answered takes true or false"))
        return None
    if operand is None or isinstance(operand, dict | list):
        problems.append((path, f"{op} needs one value"))
        return None
    return operand


def matches_of(condition: Condition) -> list[Match]:
    """Every single-answer test inside a condition (for checking them against the questions they read)."""
    if isinstance(condition, Match):
        return [condition]
    return [match for child in condition.children for match in matches_of(child)]
