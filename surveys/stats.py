"""Survey statistics with 95 % confidence intervals.

NPS: with p = share of promoters (9–10) and d = share of detractors (0–6) among the question's n respondents,
NPS = 100 (p − d) and, each answer scoring +1 / 0 / −1, its variance is (p + d − (p − d)²) / n; the interval is
the normal approximation NPS ± 1.96 · 100 · √variance, clipped to [−100, 100].
CSAT: the share of satisfied answers (4–5 of 5) with the Wilson score interval, which stays inside [0, 100] and
behaves on small samples and shares near 0 or 1.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

Z95 = 1.959963984540054


@dataclass(frozen=True)
class Estimate:
    """A figure with its 95 % interval (all in points or percent)."""

    value: float
    low: float
    high: float
    n: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Nps:
    """Net Promoter Score of one question: counts, shares and the score with its interval."""

    promoters: int
    passives: int
    detractors: int
    score: Estimate

    @property
    def n(self) -> int:
        return self.promoters + self.passives + self.detractors

    def as_dict(self) -> dict[str, Any]:
        return {"promoters": self.promoters, "passives": self.passives, "detractors": self.detractors,
                "respondents": self.n, "nps": self.score.value, "low": self.score.low, "high": self.score.high}


def nps(promoters: int, passives: int, detractors: int, z: float = Z95) -> Nps | None:
    """The NPS of these counts (None without respondents)."""
    n = promoters + passives + detractors
    if n == 0:
        return None
    p, d = promoters / n, detractors / n
    score = 100 * (p - d)
    half = z * 100 * math.sqrt(max(p + d - (p - d) ** 2, 0.0) / n)
    return Nps(promoters, passives, detractors,
               Estimate(score, max(score - half, -100.0), min(score + half, 100.0), n))


def wilson(successes: int, n: int, z: float = Z95) -> Estimate | None:
    """A share in percent with its Wilson score interval (None when n is 0)."""
    if n == 0:
        return None
    share = successes / n
    denominator = 1 + z * z / n
    centre = (share + z * z / (2 * n)) / denominator
    half = z * math.sqrt(share * (1 - share) / n + z * z / (4 * n * n)) / denominator
    return Estimate(100 * share, 100 * max(centre - half, 0.0), 100 * min(centre + half, 1.0), n)


def csat(satisfied: int, n: int) -> Estimate | None:
    """CSAT: percent of 4–5 answers among the question's respondents, with its Wilson interval."""
    return wilson(satisfied, n)
