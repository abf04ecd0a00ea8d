"""The statistics behind A/B and holdout answers: two-proportion z-test, lift intervals, probability to be best."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

Z95 = NormalDist().inv_cdf(0.975)  # 1.959963984540054


@dataclass(frozen=True)
class Interval:
    """A point estimate with its 95 % confidence interval."""

    estimate: float
    low: float
    high: float

    @property
    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0


def two_proportion_z(successes_a: int, total_a: int, successes_b: int, total_b: int) -> tuple[float, float]:
    """Pooled two-proportion z-test of rate A vs rate B: (z, two-sided p-value). (0, 1) when undefined."""
    if not total_a or not total_b:
        return 0.0, 1.0
    pooled = (successes_a + successes_b) / (total_a + total_b)
    spread = math.sqrt(pooled * (1 - pooled) * (1 / total_a + 1 / total_b))
    if spread == 0:
        return 0.0, 1.0
    z = (successes_a / total_a - successes_b / total_b) / spread
    return z, 2 * (1 - NormalDist().cdf(abs(z)))


def wilson_interval(successes: int, total: int) -> Interval:
    """A proportion with its Wilson score 95 % interval (sound near 0 and 1, unlike p ± 1.96·SE)."""
    rate = successes / total
    z2 = Z95 ** 2
    centre = (rate + z2 / (2 * total)) / (1 + z2 / total)
    half = Z95 * math.sqrt(rate * (1 - rate) / total + z2 / (4 * total ** 2)) / (1 + z2 / total)
    return Interval(rate, centre - half, centre + half)


def difference_interval(successes_a: int, total_a: int, successes_b: int, total_b: int) -> Interval | None:
    """Rate A − rate B with Newcombe's hybrid score 95 % interval (from the two Wilson intervals), in absolute
    terms (0.02 = 2 points). Unlike the Wald interval it does not collapse when a group has 0 successes."""
    if not total_a or not total_b:
        return None
    a, b = wilson_interval(successes_a, total_a), wilson_interval(successes_b, total_b)
    difference = a.estimate - b.estimate
    low = difference - math.sqrt((a.estimate - a.low) ** 2 + (b.high - b.estimate) ** 2)
    high = difference + math.sqrt((a.high - a.estimate) ** 2 + (b.estimate - b.low) ** 2)
    return Interval(difference, low, high)


def relative_lift_interval(successes_a: int, total_a: int, successes_b: int, total_b: int) -> Interval | None:
    """(rate A / rate B) − 1 with the 95 % interval of the log risk ratio (Katz): exp(ln RR ± 1.96·SE) − 1,
    SE = sqrt((1 − pA)/xA + (1 − pB)/xB). None while either group has no success (the ratio is undefined)."""
    if not (total_a and total_b and successes_a and successes_b):
        return None
    rate_a, rate_b = successes_a / total_a, successes_b / total_b
    log_ratio = math.log(rate_a / rate_b)
    spread = Z95 * math.sqrt((1 - rate_a) / successes_a + (1 - rate_b) / successes_b)
    return Interval(rate_a / rate_b - 1, math.exp(log_ratio - spread) - 1, math.exp(log_ratio + spread) - 1)


def mean_difference_interval(
    total_a: float, squares_a: float, count_a: int, total_b: float, squares_b: float, count_b: int,
) -> Interval | None:
    """Mean A − mean B (e.g. revenue per contact) with a Welch normal 95 % interval, from sums and sums of squares."""
    if count_a < 2 or count_b < 2:
        return None
    mean_a, mean_b = total_a / count_a, total_b / count_b
    variance_a = max(squares_a - count_a * mean_a ** 2, 0.0) / (count_a - 1)
    variance_b = max(squares_b - count_b * mean_b ** 2, 0.0) / (count_b - 1)
    spread = Z95 * math.sqrt(variance_a / count_a + variance_b / count_b)
    return Interval(mean_a - mean_b, mean_a - mean_b - spread, mean_a - mean_b + spread)


def probability_to_be_best(arms: Sequence[tuple[int, int]], *, draws: int = 100_000, seed: int = 0) -> list[float]:
    """P(each arm has the highest true rate) under Beta(1 + successes, 1 + failures) posteriors (Monte Carlo,
    seeded: the same data always gives the same answer)."""
    if not arms:
        return []
    rng = np.random.default_rng(seed)
    samples = np.column_stack([rng.beta(1 + wins, 1 + max(total - wins, 0), size=draws) for wins, total in arms])
    best = np.bincount(np.argmax(samples, axis=1), minlength=len(arms))
    return [float(count) / draws for count in best]
