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
