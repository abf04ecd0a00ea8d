"""Charts for the PDF report, drawn with matplotlib and returned as SVG text (crisp at any zoom, small files)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 - the backend must be chosen first
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import PercentFormatter  # noqa: E402

INK, SPEND, REVENUE, MUTED = "#1f2937", "#d8553b", "#2f855a", "#9ca3af"
PALETTE = ("#3b7dd8", "#d8553b", "#2f855a", "#b7791f", "#6b46c1")


def _style(axes: Any, grid: str = "x") -> None:
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    axes.tick_params(colors=INK, labelsize=8)
    axes.grid(axis=grid, color="#e5e7eb", linewidth=0.6)
    axes.set_axisbelow(True)


def _svg(figure: Figure) -> str:
    buffer = io.StringIO()
    figure.tight_layout()
    figure.savefig(buffer, format="svg", bbox_inches="tight")
    plt.close(figure)
    text = buffer.getvalue()
    return text[text.index("<svg"):]


def spend_vs_revenue(names: Sequence[str], spend: Sequence[Decimal], revenue: Sequence[Decimal],
                     currency: str) -> str:
    """Horizontal bars: cost and attributed revenue per campaign."""
    height = max(1.6, 0.45 * len(names) + 0.8)
    figure, axes = plt.subplots(figsize=(7.2, height))
    positions = range(len(names))
    axes.barh([p + 0.2 for p in positions], [float(v) for v in spend], height=0.38, color=SPEND, label="cost")
    axes.barh([p - 0.2 for p in positions], [float(v) for v in revenue], height=0.38, color=REVENUE, label="revenue")
    axes.set_yticks(list(positions), list(names))
    axes.invert_yaxis()
    axes.set_xlabel(currency, fontsize=8, color=INK)
    axes.legend(fontsize=8, frameon=False, loc="lower right")
    _style(axes)
    return _svg(figure)


def daily_trend(days: Sequence[str], sent: Sequence[int], revenue: Sequence[Decimal], currency: str) -> str:
    """Messages sent per day (bars) and revenue per day (line, right axis)."""
    figure, left = plt.subplots(figsize=(7.2, 2.6))
    left.bar(range(len(days)), list(sent), color="#93b7ea", label="messages sent")
    left.set_ylabel("messages sent", fontsize=8, color=INK)
    step = max(1, len(days) // 10)
    left.set_xticks(list(range(0, len(days), step)), [day[5:] for day in days][::step])
    right = left.twinx()
    right.plot(range(len(days)), [float(v) for v in revenue], color=REVENUE, marker="o", markersize=3)
    right.set_ylabel(f"revenue ({currency})", fontsize=8, color=REVENUE)
    right.spines["top"].set_visible(False)
    _style(left, grid="y")
    return _svg(figure)


def funnel(steps: Sequence[tuple[str, int]]) -> str:
    """A horizontal funnel: one bar per step, labelled with its count and share of the first step."""
    figure, axes = plt.subplots(figsize=(7.2, 0.42 * len(steps) + 0.6))
    top = max((value for _, value in steps), default=0) or 1
    for index, (_, value) in enumerate(steps):
        axes.barh(index, value, color=PALETTE[0], alpha=1 - index * 0.1)
        axes.text(value + top * 0.01, index, f"{value:,}  ({value / top:.0%})", va="center", fontsize=8, color=INK)
    axes.set_yticks(range(len(steps)), [name for name, _ in steps])
    axes.invert_yaxis()
    axes.set_xlim(0, top * 1.25)
    _style(axes)
    return _svg(figure)


def lift_intervals(names: Sequence[str], estimates: Sequence[float], lows: Sequence[float],
                   highs: Sequence[float]) -> str:
    """Forest plot: each campaign's conversion uplift over its holdout (points) with the 95 % interval."""
    figure, axes = plt.subplots(figsize=(7.2, max(1.4, 0.5 * len(names) + 0.7)))
    for index, (estimate, low, high) in enumerate(zip(estimates, lows, highs, strict=True)):
        color = REVENUE if low > 0 else (SPEND if high < 0 else MUTED)
        axes.plot([low * 100, high * 100], [index, index], color=color, linewidth=2.2)
        axes.plot(estimate * 100, index, "o", color=color)
    axes.axvline(0, color=INK, linewidth=0.8, linestyle="--")
    axes.set_yticks(range(len(names)), list(names))
    axes.invert_yaxis()
    axes.set_xlabel("conversion uplift vs holdout (percentage points, 95 % CI)", fontsize=8, color=INK)
    _style(axes)
    return _svg(figure)


def models_comparison(names: Sequence[str], by_model: dict[str, Sequence[Decimal]], currency: str) -> str:
    """Revenue per campaign under each attribution model, side by side."""
    figure, axes = plt.subplots(figsize=(7.2, max(1.8, 0.6 * len(names) + 0.8)))
    width = 0.8 / max(len(by_model), 1)
    for offset, (model, values) in enumerate(by_model.items()):
        axes.barh([index - 0.4 + width * (offset + 0.5) for index in range(len(names))], [float(v) for v in values],
                  height=width, color=PALETTE[offset % len(PALETTE)], label=model)
    axes.set_yticks(range(len(names)), list(names))
    axes.invert_yaxis()
    axes.set_xlabel(currency, fontsize=8, color=INK)
    axes.legend(fontsize=7, frameon=False, ncol=4, loc="upper center", bbox_to_anchor=(0.5, -0.25))
    _style(axes)
    return _svg(figure)


def nps_split(names: Sequence[str], splits: Sequence[tuple[int, int, int]]) -> str:
    """One stacked bar per survey: detractors, passives and promoters as shares of its NPS respondents."""
    figure, axes = plt.subplots(figsize=(7.2, max(1.2, 0.5 * len(names) + 0.7)))
    positions = list(range(len(names)))
    left = [0.0] * len(names)
    for index, (label, colour) in enumerate((("detractors (0-6)", SPEND), ("passives (7-8)", MUTED),
                                             ("promoters (9-10)", REVENUE))):
        shares = [split[index] / max(sum(split), 1) for split in splits]
        axes.barh(positions, shares, left=left, color=colour, height=0.55, label=label)
        left = [start + share for start, share in zip(left, shares, strict=True)]
    axes.set_yticks(positions, list(names))
    axes.invert_yaxis()
    axes.set_xlim(0, 1)
    axes.xaxis.set_major_formatter(PercentFormatter(1.0))
    axes.legend(fontsize=8, frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.25), ncol=3)
    _style(axes)
    return _svg(figure)
