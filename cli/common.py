"""What every CLI command shares: settings, engine, console, JSON output and progress bars."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from core.db import session_scope, shared_engine
from core.settings import Settings, get_settings

console = Console()
err_console = Console(stderr=True)


def settings() -> Settings:
    """The settings of this invocation."""
    return get_settings()


def engine() -> Engine:
    """The engine for the configured database."""
    return shared_engine(settings().database_url)


def _default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def print_json(data: Any) -> None:
    """Machine-readable output for --json (stdout only, nothing else printed)."""
    typer.echo(json.dumps(data, default=_default, ensure_ascii=False, indent=2))


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print an error on stderr and return the Exit to raise."""
    err_console.print(f"[bold red]Error:[/] {message}")
    return typer.Exit(code)


@contextmanager
def progress(enabled: bool = True) -> Iterator[Progress]:
    """A Rich progress bar, shown only when attached to a terminal and enabled."""
    bar = Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err_console,
        disable=not (enabled and sys.stderr.isatty()),
        transient=False,
    )
    with bar:
        yield bar


@contextmanager
def refusing_session(invalid: type[Exception], label: str,
                     refusals: tuple[type[Exception], ...] = (LookupError, ValueError)) -> Iterator[Session]:
    """A committed session for a command: an `invalid` definition exits 2 (its message names each problem's path),
    the `refusals` (unknown names, states that forbid the action) exit 1 with their message."""
    try:
        with session_scope(engine()) as session:
            yield session
    except invalid as exc:
        raise fail(f"invalid {label}: {exc}", code=2) from None
    except refusals as exc:
        raise fail(str(exc)) from None
