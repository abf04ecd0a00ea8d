"""A/B/n results of a campaign: per-variant rates, z-tests against the leader, probability to be best, winner."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.models import Variant
from reports.funnel import Funnel, funnels
from reports.stats import Interval, difference_interval, probability_to_be_best, two_proportion_z

Metric = Literal["opened", "clicked", "leads", "converted"]
METRICS: tuple[Metric, ...] = ("opened", "clicked", "leads", "converted")
ALPHA = 0.05


@dataclass(frozen=True)
class VariantResult:
    """One arm: its funnel, the metric's successes over messages sent, and how it compares with the leader."""

    variant_id: int
    name: str
    funnel: Funnel
    successes: int
    sent: int
    probability_best: float
    p_value_vs_leader: float | None  # None for the leader itself
    difference_vs_leader: Interval | None
    picked: bool  # the campaign engine's own choice (Variant.is_winner)

    @property
    def rate(self) -> float | None:
        return self.successes / self.sent if self.sent else None


@dataclass(frozen=True)
class ABTest:
    """All arms of a campaign on one metric; `winner` is set only when the leader beats every other arm."""

    campaign_id: int
    metric: Metric
    variants: list[VariantResult]
    winner: str | None
    alpha: float

    @property
    def denominator(self) -> str:
        return "sent"

    def summary(self) -> str:
        if len(self.variants) < 2:
            return "a single variant: nothing to compare"
        if self.winner:
            return f"variant {self.winner} wins on {self.metric} / sent (Bonferroni-corrected α = {self.alpha:.3f})"
        return f"no significant winner on {self.metric} / sent yet"


def ab_test(session: Session, campaign_id: int, *, metric: Metric = "clicked", window_days: float = 30.0,
            alpha: float = ALPHA, by_variant: dict[tuple[Hashable, ...], Funnel] | None = None) -> ABTest:
    """Compare every variant of a campaign on `metric` per message sent."""
    if metric not in METRICS:
        raise ValueError(f"unknown A/B metric {metric!r} (one of {', '.join(METRICS)})")
    variants = list(session.execute(select(Variant.id, Variant.name, Variant.is_winner)
                                    .where(Variant.campaign_id == campaign_id).order_by(Variant.name)))
    if by_variant is None:
        by_variant = funnels(session, by=("variant",), campaign_id=campaign_id, window_days=window_days)
    arms = [(variant_id, name, picked, by_variant.get((variant_id,), Funnel()))
            for variant_id, name, picked in variants]
    counts = [(getattr(funnel, metric), funnel.sent) for _, _, _, funnel in arms]
    best = probability_to_be_best(counts)
    leader = max(range(len(arms)), key=lambda index: _rate(*counts[index]), default=None)
    corrected = alpha / max(len(arms) - 1, 1)
    results, beaten = [], 0
    for index, (variant_id, name, picked, funnel) in enumerate(arms):
        p_value = difference = None
        if leader is not None and index != leader:
            _, p_value = two_proportion_z(*counts[leader], *counts[index])
            difference = difference_interval(*counts[index], *counts[leader])
            beaten += int(p_value < corrected)
        results.append(VariantResult(variant_id, name, funnel, counts[index][0], counts[index][1], best[index],
                                     p_value, difference, bool(picked)))
    winner = arms[leader][1] if leader is not None and len(arms) > 1 and beaten == len(arms) - 1 else None
    return ABTest(campaign_id, metric, results, winner, corrected)


def _rate(successes: int, total: int) -> float:
    return successes / total if total else -1.0
