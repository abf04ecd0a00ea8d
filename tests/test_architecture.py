"""The layers of docs/architecture.md hold: every import points down, and the domain stays free of UI and
orchestration frameworks."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Higher may import lower, never the other way; packages on one level do not import each other.
LEVELS: dict[str, int] = {
    "core": 0,
    "connectors": 1,
    "contacts": 2, "templates": 2,
    "segments": 3, "feedback": 3, "surveys": 3,
    "campaigns": 4, "scoring": 4,
    "journeys": 5,
    "reports": 6,
    "flows": 7,
    "cli": 8, "web": 8, "dashboard": 8,
}
# The entry points may start one another (`relance serve` runs the web app, `relance dashboard` the dashboard).
ALLOWED_SIDEWAYS = {("cli", "web"), ("cli", "dashboard")}
DOMAIN = [name for name, level in LEVELS.items() if 0 <= level <= 6]
FRAMEWORKS = {"rich", "typer", "fastapi", "starlette", "streamlit", "prefect", "uvicorn"}


def _imports(package: str) -> Iterator[tuple[Path, str]]:
    """(file, imported top-level module) for every absolute import in `package`."""
    for path in sorted((ROOT / package).rglob("*.py")):
        if "migrations" in path.parts and "versions" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                yield from ((path, alias.name.split(".")[0]) for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                yield path, node.module.split(".")[0]


def test_every_import_points_down_the_layers() -> None:
    wrong = []
    for package, level in LEVELS.items():
        if not (ROOT / package).is_dir():
            continue
        for path, imported in _imports(package):
            if imported == package or imported not in LEVELS:
                continue
            if LEVELS[imported] >= level and (package, imported) not in ALLOWED_SIDEWAYS:
                wrong.append(f"{path.relative_to(ROOT)} imports {imported} (level {LEVELS[imported]} ≥ {level})")
    assert not wrong, "imports pointing up or sideways:\n" + "\n".join(wrong)


def test_domain_packages_import_no_ui_or_orchestration_framework() -> None:
    wrong = [f"{path.relative_to(ROOT)} imports {imported}" for package in DOMAIN if (ROOT / package).is_dir()
             for path, imported in _imports(package) if imported in FRAMEWORKS]
    assert not wrong, "\n".join(wrong)


def test_every_top_level_package_has_a_level() -> None:
    packages = {path.parent.name for path in ROOT.glob("*/__init__.py")} - {"tests", "bench"}
    assert packages <= set(LEVELS), f"give these packages a level: {sorted(packages - set(LEVELS))}"


def test_only_the_timeline_writes_events_and_their_stats() -> None:
    writers = []
    for package in DOMAIN + ["flows", "web", "cli", "dashboard"]:
        for path in sorted((ROOT / package).rglob("*.py")):
            text = path.read_text()
            relative = path.relative_to(ROOT)
            if str(relative) in ("contacts/timeline.py",) or "migrations" in path.parts:
                continue
            if any(marker in text for marker in ("INTO events", "INTO contact_event_stats", "insert(Event",
                                                 "insert(ContactEventStat", "Event.__table__).from_select",
                                                 "ContactEventStat.__table__).from_select")):
                writers.append(str(relative))
    assert not writers, f"write events through contacts.timeline instead: {writers}"
