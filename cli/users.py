"""`relance user` commands: dashboard users and their roles (admin, marketer, viewer)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.table import Table
from sqlalchemy.orm import Session

from cli.common import console, engine, fail, print_json
from core.db import session_scope
from core.users import ROLES, UserError, add_user, list_users, remove_user, set_password, set_role

app = typer.Typer(help="Dashboard users and roles: admin, marketer (may schedule), viewer (read-only).",
                  no_args_is_help=True)
PASSWORD_STDIN = typer.Option(False, "--password-stdin", help="Read the password from standard input (scripts).")


@contextmanager
def _session() -> Iterator[Session]:
    try:
        with session_scope(engine()) as session:
            yield session
    except UserError as exc:
        raise fail(str(exc)) from None


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return str(typer.prompt("Password", hide_input=True, confirmation_prompt=True))


@app.command("add")
def add(
    username: str = typer.Argument(..., help="Login name."),
    role: str = typer.Option(..., "--role", "-r", help=f"One of {', '.join(ROLES)}."),
    password_stdin: bool = PASSWORD_STDIN,
) -> None:
    """Create a dashboard user (the password is prompted twice, or read from stdin)."""
    if role not in ROLES:
        raise fail(f"unknown role {role!r} (one of {', '.join(ROLES)})", code=2)
    password = _password(password_stdin)
    with _session() as session:
        add_user(session, username, role, password)
    console.print(f"User [bold]{username}[/] added as {role}.")


@app.command("list")
def list_command(as_json: bool = typer.Option(False, "--json", help="Machine-readable output.")) -> None:
    """Every dashboard user with their role."""
    with _session() as session:
        users = list_users(session)
    if as_json:
        print_json(users)
        return
    table = Table(title="Dashboard users")
    for column in ("username", "role", "created"):
        table.add_column(column)
    for user in users:
        table.add_row(str(user["username"]), str(user["role"]), f"{user['created_at']:%Y-%m-%d %H:%M}")
    console.print(table)
    if not users:
        console.print("No user yet: `relance user add NAME --role admin`.")


@app.command("password")
def password(username: str = typer.Argument(...), password_stdin: bool = PASSWORD_STDIN) -> None:
    """Change a user's password."""
    new = _password(password_stdin)
    with _session() as session:
        set_password(session, username, new)
    console.print(f"Password of [bold]{username}[/] changed.")


@app.command("role")
def role_command(username: str = typer.Argument(...), role: str = typer.Argument(..., help=", ".join(ROLES))) -> None:
    """Change a user's role."""
    with _session() as session:
        set_role(session, username, role)
    console.print(f"[bold]{username}[/] is now {role}.")


@app.command("remove")
def remove(username: str = typer.Argument(...), yes: bool = typer.Option(False, "--yes", help="Do not ask.")) -> None:
    """Delete a user (the audit log keeps what they did)."""
    if not yes and not typer.confirm(f"Remove user {username}?"):
        raise typer.Exit(1)
    with _session() as session:
        remove_user(session, username)
    console.print(f"User [bold]{username}[/] removed.")
