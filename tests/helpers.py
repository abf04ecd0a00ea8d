"""Keyword-only builders for test data and a CLI runner."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session
from typer.testing import CliRunner, Result

from core import clock
from core.models import Contact


def make_contact(session: Session, *, email: str | None = None, commit: bool = True, **fields: Any) -> Contact:
    """A contact with sensible defaults; any column can be overridden."""
    contact = Contact(email=email, **fields)
    session.add(contact)
    if commit:
        session.commit()
    return contact


def days_ago(days: float) -> datetime:
    """A moment `days` before now (on the injectable clock)."""
    from datetime import timedelta

    return clock.now() - timedelta(days=days)


def run_cli(*args: str, input: str | None = None) -> Result:
    """Run `relance ARGS...` in-process; the caller asserts on exit_code and output."""
    from cli.main import app

    return CliRunner().invoke(app, list(args), input=input, catch_exceptions=False)


def run_cli_json(*args: str) -> Any:
    """Run a `--json` command and parse its output (fails the test on a non-zero exit)."""
    result = run_cli(*args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)
