"""What every `relance demo` step receives: where the demo runs, its database, its output, earlier steps' results."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from sqlalchemy import Engine

from core.settings import Settings

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"  # the repository's examples/ folder


@dataclass(frozen=True)
class DemoCampaign:
    """The campaign the demo sent: later steps answer it (feedback) and report on it (reports)."""

    id: int
    name: str


@dataclass
class DemoContext:
    """Shared state of one demo run; a step that later steps build on sets its typed field."""

    engine: Engine
    settings: Settings
    console: Console
    workdir: Path
    seed: int = 42
    campaign: DemoCampaign | None = None
