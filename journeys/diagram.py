"""A journey's steps as a Graphviz flow diagram (DOT text): one box per step with its kind and counts, edges labelled
with how many enrollments took them, and the ends — completed, goal, exits — as terminal nodes."""

from __future__ import annotations

from journeys.status import JourneyStatus

SHAPES = {"send": "box", "wait": "ellipse", "branch": "diamond", "update": "component", "exit": "octagon"}
COLOURS = {"send": "#ccfbf1", "wait": "#e0e7ff", "branch": "#fef3c7", "update": "#fce7f3", "exit": "#e5e7eb"}
ICONS = {"send": "✉ "}  # only glyphs every font has


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _label(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def flow_dot(status: JourneyStatus) -> str:
    """DOT for `st.graphviz_chart` (or `dot -Tsvg`)."""
    lines = ["digraph journey {", "  rankdir=LR;",
             '  node [fontname="Helvetica", fontsize=11, style="filled,rounded"];',
             '  edge [fontname="Helvetica", fontsize=10, color="#64748b"];',
             f'  entry [label="{_label(f"enrolled {status.enrolled:,}")}", shape=circle, fillcolor="#0f766e", '
             'fontcolor=white];']
    for row in status.steps:
        details = [f"{ICONS.get(row.kind, '')}{row.step}", row.kind]
        if row.waiting:
            details.append(f"{row.waiting:,} waiting")
        if row.kind == "send":
            details.append(f"{row.sent:,} sent · {row.failed:,} failed")
        label = "\\n".join(_label(part) for part in details)
        lines.append(f"  {_quote(row.step)} [label=\"{label}\", shape={SHAPES.get(row.kind, 'box')}, "
                     f"fillcolor=\"{COLOURS.get(row.kind, '#ffffff')}\"];")
    if status.steps:
        lines.append(f"  entry -> {_quote(status.steps[0].step)} [label=\"{status.enrolled:,}\"];")
    counts = {(source, target): count for source, target, count in status.edges}
    labels = {(source, target): label for source, target, label in status.paths}
    ways = list(dict.fromkeys([*labels, *counts]))  # every way of the live version, then any other one taken
    terminals = sorted({target for _, target in ways if target in ("end", "goal") or target.startswith("exit: ")})
    for terminal in terminals:
        colour = "#16a34a" if terminal == "goal" else "#475569" if terminal == "end" else "#b91c1c"
        name = "converted (goal)" if terminal == "goal" else "completed" if terminal == "end" else terminal
        lines.append(f"  {_quote(terminal)} [label=\"{_label(name)}\", shape=doublecircle, fillcolor=\"{colour}\", "
                     "fontcolor=white];")
    for source, target in ways:
        count = counts.get((source, target), 0)
        label = labels.get((source, target), "")
        text = f"{count:,}" + (f" ({label})" if label and label not in ("next",) else "")
        if count:
            width = 1 + min(2, count / max(status.enrolled, 1) * 2)
            lines.append(f"  {_quote(source)} -> {_quote(target)} [label=\"{_label(text)}\", penwidth={width:.1f}];")
        else:
            lines.append(f"  {_quote(source)} -> {_quote(target)} [label=\"{_label(text)}\", style=dashed, "
                         "color=\"#cbd5e1\", fontcolor=\"#94a3b8\"];")
    lines.append("}")
    return "\n".join(lines)
