"""The steps as a graph: where each step goes (in order unless a `goto` says otherwise), with unknown targets,
loops and unreachable steps refused, and the order in which a tick visits them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from journeys.language import BranchStep, ExitStep, JourneyDocument, SplitStep, WaitStep, kind_of

END = None  # the journey ends after the step (the enrollment is completed)


@dataclass(frozen=True)
class Edge:
    """A way out of a step: its target (None = the end) and the document path that chose it."""

    target: str | None
    path: str
    label: str


def _next_in_order(document: JourneyDocument, index: int) -> str | None:
    return document.steps[index + 1].id if index + 1 < len(document.steps) else END


def edges(document: JourneyDocument, index: int) -> list[Edge]:
    """The ways out of step `index`, in the order a branch evaluates them."""
    step: Any = document.steps[index]
    following = _next_in_order(document, index)
    at = f"steps[{index}]"
    if isinstance(step, ExitStep):
        return []
    if isinstance(step, BranchStep):
        found = [Edge(rule.goto, f"{at}.branch[{number}].goto", f"if #{number + 1}")
                 for number, rule in enumerate(step.branch) if rule.if_ is not None]
        otherwise = next(((number, rule.else_) for number, rule in enumerate(step.branch) if rule.else_), None)
        if otherwise is None:
            return [*found, Edge(following, at, "else")]
        return [*found, Edge(otherwise[1], f"{at}.branch[{otherwise[0]}].else", "else")]
    if isinstance(step, SplitStep):
        return [Edge(arm.goto, f"{at}.split[{number}].goto", f"{arm.weight} parts")
                for number, arm in enumerate(step.split)]
    if isinstance(step, WaitStep) and step.wait.for_event is not None:
        return [Edge(step.wait.on_event or step.goto or following, f"{at}.wait.on_event", "event"),
                Edge(step.wait.on_timeout or step.goto or following, f"{at}.wait.on_timeout", "timeout")]
    return [Edge(step.goto if step.goto else following, f"{at}.goto" if step.goto else at, "next")]


def problems(document: JourneyDocument) -> list[tuple[str, str]]:
    """Duplicate ids, unknown targets, loops and steps nothing leads to."""
    ids = [step.id for step in document.steps]
    found = [(f"steps[{index}].id", f"step id {step_id!r} is used twice") for index, step_id in enumerate(ids)
             if step_id in ids[:index]]
    for index, _ in enumerate(document.steps):
        for edge in edges(document, index):
            if edge.target is not END and edge.target not in ids:
                found.append((edge.path, f"no step {edge.target!r} (steps: {', '.join(ids)})"))
    if found:
        return found
    loop = _loop(document)
    if loop is not None:
        return [loop]
    reached = _reachable(document)
    return [(f"steps[{index}]", f"step {step.id!r} is never reached (no step leads to it)")
            for index, step in enumerate(document.steps) if step.id not in reached]


def successors(document: JourneyDocument) -> dict[str, list[Edge]]:
    return {step.id: edges(document, index) for index, step in enumerate(document.steps)}


def _loop(document: JourneyDocument) -> tuple[str, str] | None:
    graph = successors(document)
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(step_id: str, trail: list[str]) -> tuple[str, str] | None:
        state[step_id] = 1
        for edge in graph[step_id]:
            if edge.target is END:
                continue
            if state.get(edge.target) == 1:
                cycle = " → ".join([*trail[trail.index(edge.target):], step_id, edge.target])
                return edge.path, f"this makes a loop ({cycle}); journeys run forward only"
            if edge.target not in state:
                found = visit(edge.target, [*trail, step_id])
                if found:
                    return found
        state[step_id] = 2
        return None

    for step in document.steps:
        if step.id not in state:
            found = visit(step.id, [])
            if found:
                return found
    return None


def _reachable(document: JourneyDocument) -> set[str]:
    graph = successors(document)
    seen, todo = set(), [document.steps[0].id]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        todo += [edge.target for edge in graph[current] if edge.target is not END]
    return seen


def ancestors(document: JourneyDocument, step_id: str) -> set[str]:
    """The steps an enrollment may have passed before reaching `step_id`."""
    parents: dict[str, set[str]] = {step.id: set() for step in document.steps}
    for source, out in successors(document).items():
        for edge in out:
            if edge.target is not END:
                parents[edge.target].add(source)
    seen: set[str] = set()
    todo = list(parents[step_id])
    while todo:
        current = todo.pop()
        if current not in seen:
            seen.add(current)
            todo += list(parents[current])
    return seen


def topological(document: JourneyDocument) -> list[str]:
    """Step ids such that every step comes after those leading to it (a tick carries enrollments through
    consecutive immediate steps in one pass)."""
    graph = successors(document)
    order: list[str] = []
    done: set[str] = set()

    def place(step_id: str) -> None:
        if step_id in done:
            return
        done.add(step_id)
        for edge in graph[step_id]:
            if edge.target is not END:
                place(edge.target)
        order.append(step_id)

    for step in document.steps:
        place(step.id)
    return list(reversed(order))


def kinds(document: JourneyDocument) -> dict[str, str]:
    return {step.id: kind_of(step) for step in document.steps}
