"""What every `relance demo` step receives: where the demo runs, its database and its output."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from sqlalchemy import Engine

from core.settings import Settings


@dataclass
class DemoContext:
    """Shared state of one demo run; steps read earlier steps' results from `results`."""

    engine: Engine
    settings: Settings
    console: Console
    workdir: Path
    seed: int = 42
    results: dict[str, Any] = field(default_factory=dict)
