"""Where a journey stands, per step: enrollments waiting there, passed, messages sent / failed / excluded, exits by
goal or by reason; the transitions between steps (the flow diagram's edges); conversions and revenue. Aggregates
only, one grouped query per table."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from core.models import Conversion, Enrollment, EnrollmentStep, Journey, JourneyStep, JourneyVersion, Message
from journeys.checks import JourneySpec
from journeys.service import current_version, spec_of, versions_of

SENT = ("sent", "delivered", "bounced")
PENDING = ("queued", "waiting", "sending", "unknown")


@dataclass
class StepStatus:
    """One step's row of the status table."""

    step: str
    kind: str
    waiting: int = 0
    passed: int = 0
    sent: int = 0
    failed: int = 0
    excluded: int = 0
    held_out: int = 0
    pending: int = 0
    converted: int = 0  # enrollments that met the goal while at this step
    exited: dict[str, int] = field(default_factory=dict)  # reason -> enrollments that left here
    later_converted: int = 0  # of those who passed, how many met the goal later
    sent_by_channel: dict[str, int] = field(default_factory=dict)

    @property
    def conversion_rate(self) -> float | None:
        return self.later_converted / self.passed if self.passed else None


@dataclass
class JourneyStatus:
    """The whole journey."""

    journey: str
    status: str
    reason: str | None
    version: int | None
    versions: int
    enrolled: int = 0
    active: int = 0
    held_out: int = 0
    finished: dict[str, int] = field(default_factory=dict)  # completed | converted | exited
    exit_reasons: dict[str, int] = field(default_factory=dict)
    steps: list[StepStatus] = field(default_factory=list)
    edges: list[tuple[str, str, int]] = field(default_factory=list)  # from, to (a step, or end / goal / exit:x)
    paths: list[tuple[str, str, str]] = field(default_factory=list)  # the live version's ways: from, to, label
    messages: dict[str, int] = field(default_factory=dict)  # sent per channel
    cost: Decimal = Decimal(0)
    conversions: int = 0  # purchases by enrolled (not held-out) contacts while enrolled
    revenue: dict[str, Decimal] = field(default_factory=dict)  # per currency

    @property
    def converted(self) -> int:
        return self.finished.get("converted", 0)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for row, step in zip(data["steps"], self.steps, strict=True):
            row["conversion_rate"] = step.conversion_rate
        data["converted"] = self.converted
        return data


def enrollment_counts(session: Session) -> dict[int, dict[str, int]]:
    """journey id -> enrollments per status, for every journey in one grouped query (the journeys list)."""
    counts: dict[int, dict[str, int]] = defaultdict(dict)
    for journey_id, status, count in session.execute(
            select(Enrollment.journey_id, Enrollment.status, func.count())
            .group_by(Enrollment.journey_id, Enrollment.status)):
        counts[journey_id][status] = int(count)
    return counts


def journey_status(session: Session, journey: Journey) -> JourneyStatus:
    """The status table of a journey (every version's enrollments, counted by step id)."""
    live = current_version(session, journey)
    all_versions = versions_of(session, journey.id)
    report = JourneyStatus(journey.name, journey.status, journey.status_reason,
                           live.number if live else None, len(all_versions))
    spec = None if live is None else spec_of(live)
    rows = _step_rows(spec, [spec_of(version) for version in all_versions])
    if spec is not None:
        report.paths = [(source, edge.target or "end", edge.label) for source, out in spec.edges.items()
                        for edge in out]
    _enrollments(session, journey, report, rows)
    _logs(session, journey, report, rows)
    _ledger(session, journey, report, rows)
    _money(session, journey, report)
    report.steps = list(rows.values())
    return report


def _step_rows(spec: JourneySpec | None, every: list[JourneySpec]) -> dict[str, StepStatus]:
    rows: dict[str, StepStatus] = {}
    for item in ([spec] if spec else []) + every:
        for step in item.document.steps:
            if step.id not in rows:
                rows[step.id] = StepStatus(step.id, item.kinds[step.id])
    return rows


def _enrollments(session: Session, journey: Journey, report: JourneyStatus, rows: dict[str, StepStatus]) -> None:
    query = (select(Enrollment.step, Enrollment.status, Enrollment.exit_reason, Enrollment.held_out, func.count())
             .where(Enrollment.journey_id == journey.id)
             .group_by(Enrollment.step, Enrollment.status, Enrollment.exit_reason, Enrollment.held_out))
    finished: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    for step, status, reason, held_out, count in session.execute(query):
        report.enrolled += count
        report.held_out += count if held_out else 0
        row = rows.get(step)
        if status == "active":
            report.active += count
            if row is not None:
                row.waiting += count
            continue
        finished[status] += count
        if status == "exited":
            reasons[reason or "exited"] += count
        if row is None:
            continue
        if status == "converted":
            row.converted += count
        elif status == "exited":
            row.exited[reason or "exited"] = row.exited.get(reason or "exited", 0) + count
    report.finished, report.exit_reasons = dict(finished), dict(reasons)


def _versions(journey: Journey) -> Any:
    return select(JourneyVersion.id).where(JourneyVersion.journey_id == journey.id)


def _logs(session: Session, journey: Journey, report: JourneyStatus, rows: dict[str, StepStatus]) -> None:
    # (version, step, next step) is an index: counting the step log reads only it.
    query = (select(EnrollmentStep.step, EnrollmentStep.next_step, func.count())
             .where(EnrollmentStep.version_id.in_(_versions(journey)))
             .group_by(EnrollmentStep.step, EnrollmentStep.next_step))
    edges: Counter[tuple[str, str]] = Counter()
    for step, next_step, count in session.execute(query):
        row = rows.get(step)
        if row is not None:
            row.passed += count
        edges[(step, next_step or "end")] += count
    for row in rows.values():
        if row.converted:
            edges[(row.step, "goal")] += row.converted
        for reason, count in row.exited.items():
            edges[(row.step, f"exit: {reason}")] += count
    later = (select(EnrollmentStep.step, func.count())
             .join(Enrollment, Enrollment.id == EnrollmentStep.enrollment_id)
             .where(EnrollmentStep.version_id.in_(_versions(journey)), Enrollment.status == "converted")
             .group_by(EnrollmentStep.step))
    for step, count in session.execute(later):
        if step in rows:
            rows[step].later_converted += count
    report.edges = [(source, target, count) for (source, target), count in sorted(edges.items())]


def _ledger(session: Session, journey: Journey, report: JourneyStatus, rows: dict[str, StepStatus]) -> None:
    query = (select(JourneyStep.step, Message.status, Message.channel, func.count(), func.sum(Message.cost))
             .join(Message, Message.campaign_id == JourneyStep.campaign_id)
             .where(JourneyStep.version_id.in_(_versions(journey)))
             .group_by(JourneyStep.step, Message.status, Message.channel))
    sent_by_channel: Counter[str] = Counter()
    cost = Decimal(0)
    for step, status, channel, count, spent in session.execute(query):
        cost += Decimal(str(spent or 0))
        row = rows.get(step)
        if row is None:
            continue
        if status in SENT:
            row.sent += count
            row.sent_by_channel[channel] = row.sent_by_channel.get(channel, 0) + count
            sent_by_channel[channel] += count
        elif status == "failed":
            row.failed += count
        elif status == "excluded":
            row.excluded += count
        elif status == "held_out":
            row.held_out += count
        elif status in PENDING:
            row.pending += count
    report.messages, report.cost = dict(sent_by_channel), cost


def _money(session: Session, journey: Journey, report: JourneyStatus) -> None:
    """Purchases of treated contacts between entering and leaving (the goal's own conversions included)."""
    during = and_(Conversion.contact_id == Enrollment.contact_id, Conversion.occurred_at >= Enrollment.entered_at,
                  or_(Enrollment.exited_at.is_(None), Conversion.occurred_at <= Enrollment.exited_at))
    query = (select(Conversion.currency, func.count(func.distinct(Conversion.id)), func.sum(Conversion.amount))
             .select_from(Enrollment).join(Conversion, during)
             .where(Enrollment.journey_id == journey.id, Enrollment.held_out.is_(False))
             .group_by(Conversion.currency))
    revenue: dict[str, Decimal] = defaultdict(Decimal)
    for currency, count, amount in session.execute(query):
        report.conversions += int(count)
        revenue[currency] += Decimal(str(amount or 0))
    report.revenue = dict(revenue)
