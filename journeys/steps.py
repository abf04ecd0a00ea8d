"""One batch at one step, set-based: judge goals and exits, act (send, wait, branch, update, exit), route, log the
step, write the timeline, move the enrollments — a handful of statements for the whole batch, one transaction."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import String, case, exists, func, literal, null, select, update
from sqlalchemy.orm import Session

from campaigns import hashing
from core import clock
from core.dialect import dialect_insert
from core.models import Contact, Enrollment, EnrollmentStep
from core.settings import Settings
from journeys import events
from journeys.arrival import set_next_due
from journeys.batch import BATCH, B, acting, acting_count, any_row, claim
from journeys.checks import JourneySpec
from journeys.conditions import Anchor, compile_journey_condition
from journeys.language import BranchStep, ExitStep, SplitStep, UpdateStep, WaitStep
from journeys.sends import cancel_open_messages, check_budget, ledger_batch
from journeys.updates import apply_update


@dataclass(frozen=True)
class Node:
    """One step of one published version, with what acting on it needs."""

    journey_id: int
    journey: str
    version_id: int
    version: int
    spec: JourneySpec
    step: str
    campaign_id: int | None = None  # send steps
    step_campaigns: tuple[int, ...] = ()  # every send step's campaign in the journey (for cancellations)
    budget: Decimal | None = None  # the journey's, checked before each send batch
    fixed_cost: Decimal = Decimal(0)

    @property
    def kind(self) -> str:
        return self.spec.kinds[self.step]


@dataclass
class BatchOutcome:
    """What one batch did."""

    claimed: int = 0
    acted: int = 0
    replayed: int = 0
    ledgered: int = 0
    finished: Counter[str] = field(default_factory=Counter)  # converted / exited / completed
    reasons: Counter[str] = field(default_factory=Counter)
    moved: Counter[str] = field(default_factory=Counter)  # next step -> enrollments


def run_batch(session: Session, settings: Settings, node: Node, limit: int) -> BatchOutcome:
    """Claim up to `limit` enrollments due at the node and carry them through it (the caller commits)."""
    now = clock.now()
    outcome = BatchOutcome(claimed=claim(session, node.version_id, node.step, limit))
    if not outcome.claimed:
        return outcome
    judge(session, node.spec)
    _mark_replays(session, node)
    outcome.ledgered = _act(session, settings, node, now)
    _route(session, node)
    set_next_due(session, node.spec, now, settings.default_timezone)
    _log(session, node, now)
    if not _plain_wait(node):  # a plain wait's end is the next step's start: its event would say nothing more
        events.record_steps(session, _JourneyRef(node), node.version, node.step, node.kind, now)
    _finish(session, node, now)
    _tally(session, outcome)
    return outcome


def _plain_wait(node: Node) -> bool:
    step = node.spec.document.step(node.step)
    return isinstance(step, WaitStep) and step.wait.for_event is None


@dataclass(frozen=True)
class _JourneyRef:
    node: Node

    @property
    def id(self) -> int:
        return self.node.journey_id

    @property
    def name(self) -> str:
        return self.node.journey


def judge(session: Session, spec: JourneySpec) -> None:
    """Batch rows whose contact meets the goal (converted), an exit condition (exited with its reason) or was
    erased (the claim says so) leave before the step acts."""
    anchor = Anchor(B.enrollment_id, B.entered_at)
    cases: list[tuple[Any, Any]] = []
    if spec.goal is not None:
        cases.append((compile_journey_condition(session, spec.goal, anchor), literal("goal", String)))
    cases += [(compile_journey_condition(session, item.condition, anchor), literal(item.reason, String))
              for item in spec.exits]
    if cases:
        verdict = select(case(*cases, else_=null())).where(Contact.id == B.contact_id).scalar_subquery()
        session.execute(update(BATCH).where(B.verdict.is_(None)).values(verdict=verdict))
    if any_row(session, B.verdict.is_not(None)):
        session.execute(update(BATCH).where(B.verdict.is_not(None)).values(
            finished=case((B.verdict == "goal", literal("converted", String)), else_=literal("exited", String)),
            reason=B.verdict))


def _mark_replays(session: Session, node: Node) -> None:
    """Rows whose step log already holds this step (a migration into a step they ran) pass without acting."""
    logged = select(EnrollmentStep.next_step).where(EnrollmentStep.enrollment_id == B.enrollment_id,
                                                     EnrollmentStep.step == node.step, EnrollmentStep.visit == 1)
    targets = [edge.target for edge in node.spec.edges[node.step] if edge.target is not None]
    fallback = node.spec.edges[node.step][-1].target if node.spec.edges[node.step] else None
    previous = logged.scalar_subquery()
    session.execute(update(BATCH).where(B.verdict.is_(None), exists(logged)).values(
        replayed=True, outcome=literal("already run", String),
        next_step=case((previous.in_(targets), previous), else_=literal(fallback, String)) if targets else null()))


def _act(session: Session, settings: Settings, node: Node, now: datetime) -> int:
    step = node.spec.document.step(node.step)
    if node.kind == "send":
        assert node.campaign_id is not None
        if node.budget is not None:
            check_budget(session, settings, node.journey_id, node.campaign_id, budget=node.budget,
                         fixed=node.fixed_cost, messages=acting_count(session))
        return ledger_batch(session, settings, node.campaign_id, now)
    if isinstance(step, WaitStep):
        _leave_wait(session, node, step)
    elif isinstance(step, BranchStep):
        _branch(session, node)
    elif isinstance(step, SplitStep):
        _split(session, node, step)
    elif isinstance(step, UpdateStep):
        apply_update(session, step.update, journey=node.journey, step=node.step, at=now)
        session.execute(update(BATCH).where(acting()).values(outcome="applied"))
    elif isinstance(step, ExitStep):
        reason = step.exit if isinstance(step.exit, str) else "exit step"
        session.execute(update(BATCH).where(acting()).values(outcome="exit", finished="completed",
                                                             reason=reason[:64]))
    return 0


def _leave_wait(session: Session, node: Node, step: WaitStep) -> None:
    if step.wait.for_event is None:
        session.execute(update(BATCH).where(acting()).values(outcome="elapsed"))
        return
    on_event, on_timeout = (edge.target for edge in node.spec.edges[node.step])
    woken = B.woken.is_(True)
    session.execute(update(BATCH).where(acting()).values(
        outcome=case((woken, literal("event", String)), else_=literal("timeout", String)),
        next_step=case((woken, literal(on_event, String)), else_=literal(on_timeout, String))))


def _branch(session: Session, node: Node) -> None:
    """The first rule that holds decides (`if #n`), else the `else` step."""
    anchor = Anchor(B.enrollment_id, B.entered_at)
    rules = node.spec.rules[node.step]
    edges = node.spec.edges[node.step]
    decided = case(*[(compile_journey_condition(session, rule, anchor), literal(edge.label, String))
                     for rule, edge in zip(rules, edges, strict=False)], else_=literal("else", String))
    session.execute(update(BATCH).where(acting()).values(
        outcome=select(decided).where(Contact.id == B.contact_id).scalar_subquery()))
    session.execute(update(BATCH).where(acting()).values(next_step=case(
        *[(B.outcome == edge.label, literal(edge.target, String)) for edge in edges[:-1]],
        else_=literal(edges[-1].target, String))))


def _split(session: Session, node: Node, step: SplitStep) -> None:
    """A deterministic draw per enrollment: arm `n` of the split, proportional to the weights."""
    hashing.prepare(session)
    draw = hashing.bucket_sql(session, f"split:{node.version_id}:{node.step}", B.enrollment_id)
    total, running, arms = sum(arm.weight for arm in step.split), 0, []
    for number, arm in enumerate(step.split):
        running += arm.weight
        arms.append((draw < hashing.threshold(running / total), f"arm {number + 1}", arm.goto))
    session.execute(update(BATCH).where(acting()).values(
        outcome=case(*[(when, literal(label, String)) for when, label, _ in arms[:-1]],
                     else_=literal(arms[-1][1], String)),
        next_step=case(*[(when, literal(target, String)) for when, _, target in arms[:-1]],
                       else_=literal(arms[-1][2], String))))


def _route(session: Session, node: Node) -> None:
    """Single-exit steps go to their next step; rows with nowhere to go complete the journey."""
    edges = node.spec.edges[node.step]
    if node.kind in ("send", "update") or (node.kind == "wait" and len(edges) == 1):
        session.execute(update(BATCH).where(acting()).values(next_step=literal(edges[0].target, String)))
    session.execute(update(BATCH).where(B.verdict.is_(None), B.finished.is_(None), B.next_step.is_(None))
                    .values(finished="completed", reason="end"))


def _log(session: Session, node: Node, now: datetime) -> None:
    rows = select(B.enrollment_id, literal(node.step, String), literal(1), literal(node.version_id),
                  literal(node.kind, String), B.outcome, B.next_step, B.message_id, literal(now, B.next_due.type)) \
        .where(acting())
    columns = ["enrollment_id", "step", "visit", "version_id", "kind", "outcome", "next_step", "message_id", "at"]
    session.execute(dialect_insert(session)(EnrollmentStep).from_select(columns, rows).on_conflict_do_nothing())


def _finish(session: Session, node: Node, now: datetime) -> None:
    """Exits on the timeline, open messages of those who left cancelled, then the rows moved or ended."""
    if any_row(session, B.finished.is_not(None)):
        events.record_exits(session, _JourneyRef(node), node.version, node.step, now)
        if any_row(session, B.verdict.is_not(None)):
            left = select(B.contact_id, B.enrollment_id).where(B.verdict.is_not(None)).subquery("left")
            cancel_open_messages(session, list(node.step_campaigns), left, "left the journey")
    move(session, now)


def move(session: Session, now: datetime, *, only_finished: bool = False) -> None:
    """Write the batch back: the next step and when it is due; or how the enrollment ended. Two UPDATEs, so that
    moving rows touch only the due index (their status does not change)."""
    when = literal(now, B.next_due.type)
    if not only_finished:
        session.execute(update(Enrollment).where(Enrollment.id == B.enrollment_id, B.finished.is_(None)).values(
            step=B.next_step, due_at=B.next_due, arrived_at=when, woken_at=null()),
            execution_options={"synchronize_session": False})
    if any_row(session, B.finished.is_not(None)):
        session.execute(update(Enrollment).where(Enrollment.id == B.enrollment_id, B.finished.is_not(None)).values(
            status=B.finished, due_at=null(), woken_at=null(), exited_at=when, exit_reason=B.reason),
            execution_options={"synchronize_session": False})


def _tally(session: Session, outcome: BatchOutcome) -> None:
    rows = session.execute(select(B.finished, B.reason, B.next_step, B.verdict.is_(None), B.replayed, func.count())
                           .group_by(B.finished, B.reason, B.next_step, B.verdict.is_(None), B.replayed))
    for finished, reason, next_step, acted, replayed, count in rows:
        if replayed:
            outcome.replayed += count
        elif acted:
            outcome.acted += count
        if finished:
            outcome.finished[finished] += count
            outcome.reasons[reason or finished] += count
        elif next_step:
            outcome.moved[next_step] += count
