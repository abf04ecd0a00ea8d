"""Altair charts of the dashboard: funnels, trends, money bars, intervals, distributions, the lift chart."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import altair as alt
import pandas as pd

BLUE, RED, GREEN, GREY = "#3b7dd8", "#d8553b", "#2f855a", "#9ca3af"


def funnel(steps: Sequence[tuple[str, int]]) -> alt.Chart:
    """Horizontal bars, one per step, in order, with the count and the share of the first step."""
    top = max((value for _, value in steps), default=0) or 1
    data = pd.DataFrame([{"step": name, "messages": value, "share": value / top, "order": index}
                         for index, (name, value) in enumerate(steps)])
    bars = alt.Chart(data).mark_bar(color=BLUE).encode(
        y=alt.Y("step:N", sort=alt.SortField("order"), title=None), x=alt.X("messages:Q", title="messages"),
        tooltip=["step", alt.Tooltip("messages:Q", format=","), alt.Tooltip("share:Q", format=".1%")])
    labels = bars.mark_text(align="left", dx=4, color="#1f2937").encode(text=alt.Text("share:Q", format=".0%"))
    return (bars + labels).properties(height=32 * len(steps) + 20)


def money_bars(data: pd.DataFrame, category: str, currency: str) -> alt.Chart:
    """Cost and revenue side by side per `category` (long format: category, measure, amount)."""
    long = data.melt(id_vars=[category], value_vars=["cost", "revenue"], var_name="measure", value_name="amount")
    return alt.Chart(long).mark_bar().encode(
        y=alt.Y(f"{category}:N", title=None), x=alt.X("amount:Q", title=currency),
        yOffset="measure:N", color=alt.Color("measure:N", scale=alt.Scale(range=[RED, GREEN]), title=None),
        tooltip=[category, "measure", alt.Tooltip("amount:Q", format=",.2f")],
    ).properties(height=max(120, 46 * data[category].nunique()))


def trends(rows: Sequence[dict[str, Any]], series: Sequence[str], title: str) -> alt.Chart:
    """Lines per day for the chosen series of the daily trend rows."""
    data = pd.DataFrame(list(rows))
    if data.empty:
        data = pd.DataFrame(columns=["day", *series])
    long = data.melt(id_vars=["day"], value_vars=list(series), var_name="series", value_name="value")
    long["value"] = long["value"].astype(float)
    return alt.Chart(long).mark_line(point=True).encode(
        x=alt.X("day:T", title=None), y=alt.Y("value:Q", title=title), color=alt.Color("series:N", title=None),
        tooltip=["day:T", "series", alt.Tooltip("value:Q", format=",.2f")]).properties(height=260)


def timeline(rows: Sequence[dict[str, Any]]) -> alt.Chart:
    """A campaign's sends and responses per day (long rows: day, series, count)."""
    data = pd.DataFrame(list(rows), columns=["day", "series", "count"])
    return alt.Chart(data).mark_line(point=True).encode(
        x=alt.X("day:T", title=None), y=alt.Y("count:Q", title="per day"), color=alt.Color("series:N", title=None),
        tooltip=["day:T", "series", "count"]).properties(height=260)


def intervals(rows: Sequence[dict[str, Any]], label: str, axis_title: str) -> alt.Chart:
    """Points with 95 % interval bars (rows: label, estimate, low, high), a zero rule for reference."""
    data = pd.DataFrame(list(rows))
    base = alt.Chart(data).encode(y=alt.Y(f"{label}:N", title=None))
    bars = base.mark_rule(strokeWidth=3, color=BLUE).encode(x=alt.X("low:Q", title=axis_title), x2="high:Q")
    points = base.mark_point(filled=True, size=80, color="#1f2937").encode(
        x="estimate:Q", tooltip=[label, alt.Tooltip("estimate:Q", format=".2%"), alt.Tooltip("low:Q", format=".2%"),
                                 alt.Tooltip("high:Q", format=".2%")])
    zero = alt.Chart(pd.DataFrame({"x": [0]})).mark_rule(strokeDash=[4, 4], color=GREY).encode(x="x:Q")
    return (bars + points + zero).properties(height=max(90, 50 * len(data)))


def rate_bars(data: pd.DataFrame, category: str, value: str, title: str) -> alt.Chart:
    """Bars of a rate per category, as percentages."""
    return alt.Chart(data).mark_bar(color=BLUE).encode(
        x=alt.X(f"{category}:N", title=None), y=alt.Y(f"{value}:Q", title=title, axis=alt.Axis(format="%")),
        tooltip=[category, alt.Tooltip(f"{value}:Q", format=".2%")]).properties(height=240)


def histogram(data: pd.DataFrame, category: str, value: str, title: str) -> alt.Chart:
    """Counts per ordered band."""
    return alt.Chart(data).mark_bar(color=BLUE).encode(
        x=alt.X(f"{category}:N", sort=None, title=title), y=alt.Y(f"{value}:Q", title="contacts"),
        tooltip=[category, alt.Tooltip(f"{value}:Q", format=",")]).properties(height=240)


def lift_chart(deciles: Sequence[dict[str, Any]]) -> alt.LayerChart:
    """The model's lift per decile (bars) and cumulative capture of converters (line, right axis)."""
    data = pd.DataFrame(list(deciles))
    base = alt.Chart(data).encode(x=alt.X("decile:O", title="decile (1 = highest score)"))
    bars = base.mark_bar(color=BLUE).encode(y=alt.Y("lift:Q", title="lift over average"),
                                            tooltip=["decile", alt.Tooltip("lift:Q", format=".2f")])
    line = base.mark_line(color=RED, point=True).encode(
        y=alt.Y("capture:Q", title="converters captured (cumulative)", axis=alt.Axis(format="%")),
        tooltip=["decile", alt.Tooltip("capture:Q", format=".0%")])
    return alt.layer(bars, line).resolve_scale(y="independent").properties(height=280)


def sizes_over_time(rows: Sequence[dict[str, Any]]) -> alt.Chart:
    """Segment sizes after each refresh."""
    data = pd.DataFrame(list(rows), columns=["segment", "measured_at", "size", "entered", "exited"])
    return alt.Chart(data).mark_line(point=True).encode(
        x=alt.X("measured_at:T", title=None), y=alt.Y("size:Q", title="members"), color=alt.Color("segment:N"),
        tooltip=["segment", "measured_at:T", "size", "entered", "exited"]).properties(height=280)


def events_over_time(rows: Sequence[dict[str, Any]]) -> alt.Chart:
    """A contact's timeline as ticks per event type."""
    data = pd.DataFrame(list(rows), columns=["occurred_at", "type"])
    return alt.Chart(data).mark_tick(thickness=2, size=18).encode(
        x=alt.X("occurred_at:T", title=None), y=alt.Y("type:N", title=None), color=alt.Color("type:N", legend=None),
        tooltip=["type", "occurred_at:T"]).properties(height=max(80, 24 * data["type"].nunique()))


def nps_split(detractors: int, passives: int, promoters: int) -> alt.Chart:
    """One stacked bar: detractors, passives and promoters as shares of the NPS question's respondents."""
    total = max(detractors + passives + promoters, 1)
    data = pd.DataFrame([{"group": name, "people": count, "share": count / total, "order": index}
                         for index, (name, count) in enumerate((("detractors (0-6)", detractors),
                                                                ("passives (7-8)", passives),
                                                                ("promoters (9-10)", promoters)))])
    return alt.Chart(data).mark_bar(height=40).encode(
        x=alt.X("share:Q", stack="normalize", axis=alt.Axis(format="%"), title=None),
        color=alt.Color("group:N", scale=alt.Scale(domain=list(data["group"]), range=[RED, GREY, GREEN]), title=None,
                        legend=alt.Legend(orient="bottom")),
        order=alt.Order("order:Q"),
        tooltip=["group", alt.Tooltip("people:Q", format=","), alt.Tooltip("share:Q", format=".1%")],
    ).properties(height=90)


def distribution(rows: Sequence[dict[str, Any]], title: str) -> alt.Chart:
    """Answers per value of one question, in the question's order."""
    data = pd.DataFrame(list(rows), columns=["label", "count", "share"])
    data["label"] = data["label"].astype(str)
    return alt.Chart(data).mark_bar(color=BLUE).encode(
        x=alt.X("label:N", sort=list(data["label"]), title=None), y=alt.Y("count:Q", title=title),
        tooltip=["label", alt.Tooltip("count:Q", format=","), alt.Tooltip("share:Q", format=".1%")],
    ).properties(height=220)


def score_trend(rows: Sequence[dict[str, Any]], title: str) -> alt.LayerChart | alt.FacetChart:
    """A weekly score (rows: week start, value, low, high) with its 95 % interval as a band."""
    data = pd.DataFrame(list(rows), columns=["start", "value", "low", "high"])
    base = alt.Chart(data).encode(x=alt.X("start:T", title="week"))
    band = base.mark_area(opacity=0.2, color=BLUE).encode(y=alt.Y("low:Q", title=title), y2="high:Q")
    line = base.mark_line(point=True, color=BLUE).encode(
        y="value:Q", tooltip=[alt.Tooltip("start:T", title="week of"), alt.Tooltip("value:Q", format=".1f"),
                              alt.Tooltip("low:Q", format=".1f"), alt.Tooltip("high:Q", format=".1f")])
    return alt.layer(band, line).properties(height=240)
