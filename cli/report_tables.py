"""The ROI table for terminals (the CLI and the demo): every column when there is room, the essential ones on a
narrow terminal or log, where a squeezed table would be unreadable."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.markup import escape
from rich.table import Table

from reports.formatting import money, number, percent

WIDE = 112  # characters from which every column fits


Cell = Callable[[dict[str, Any]], str]

# (header, essential, cell); the first column is the campaign, left-aligned.
COLUMNS: list[tuple[str, bool, Cell]] = [
    ("campaign", True, lambda row: escape(str(row.get("campaign", "total")))),
    ("status", False, lambda row: str(row.get("status", ""))),
    ("sent", True, lambda row: f"{row['sent']:,}"),
    ("cost", True, lambda row: money(row["cost"])),
    ("revenue", True, lambda row: money(row["revenue"])),
    ("ROI", True, lambda row: percent(row["roi"], 0)),
    ("conv.", True, lambda row: number(row["conversions"])),
    ("CPA", False, lambda row: money(row["cost_per_acquisition"])),
    ("CPL", False, lambda row: money(row["cost_per_lead"])),
    ("budget", False, lambda row: percent(row.get("budget_consumed"), 0)),
]


def roi_table(report: dict[str, Any], *, title: str, width: int, lead_cost: bool = True) -> tuple[Table, bool]:
    """The table of `report` (reports.service.roi_report as a dict) for a terminal `width` characters wide, and
    whether columns were left out for lack of room."""
    wide = width >= WIDE
    columns = [(header, cell) for header, essential, cell in COLUMNS
               if (essential or wide) and (lead_cost or header != "CPL")]
    table = Table(title=title)
    for index, (header, _) in enumerate(columns):
        if index == 0 or header == "status":
            table.add_column(header, overflow="fold", min_width=16 if index == 0 else 9)
        else:
            table.add_column(header, justify="right", no_wrap=True)
    for row in report["campaigns"]:
        table.add_row(*[cell(row) for _, cell in columns])
    total = {**report["total"], "campaign": "total", "status": "", "budget_consumed": None}
    table.add_row(*[cell(total) if header != "budget" else "" for header, cell in columns], style="bold")
    return table, not wide


def journeys_table(report: dict[str, Any], *, title: str, width: int) -> Table:
    """One row per journey: enrollments, conversions by the goal, money, ROI and the holdout lift with its 95 %
    interval (in points of conversion rate)."""
    wide = width >= WIDE
    table = Table(title=title)
    headers = ["journey", "enrolled", "goal", "cost", "revenue", "ROI", "lift (95 % CI)"]
    if wide:
        headers[1:1] = ["status"]
        headers[4:4] = ["sent"]
    for index, header in enumerate(headers):
        table.add_column(header, justify="left" if index == 0 or header == "status" else "right",
                         overflow="fold", min_width=16 if index == 0 else None)
    for row in report.get("journeys", []):
        cells = [escape(row["journey"]), f"{row['enrolled']:,}", f"{row['converted']:,}", money(row["cost"]),
                 money(row["revenue"]), percent(row["roi"], 0), _lift(row.get("holdout"))]
        if wide:
            cells[1:1] = [row["status"]]
            cells[4:4] = [f"{row['sent']:,}"]
        table.add_row(*cells)
    return table


def _lift(holdout: dict[str, Any] | None) -> str:
    if not holdout or not holdout.get("held_out") or holdout.get("uplift") is None:
        return "no holdout" if not holdout or not holdout.get("held_out") else "—"
    return (f"{holdout['uplift'] * 100:+.1f} pts ({holdout['uplift_low'] * 100:+.1f}…"
            f"{holdout['uplift_high'] * 100:+.1f})")
