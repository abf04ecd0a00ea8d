"""Test fixtures: every database test runs on SQLite and on PostgreSQL, each run in its own database."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from core import clock
from core.db import make_engine, session_factory
from core.migrate import upgrade
from core.models import Base
from core.settings import Settings, get_settings

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
# Flows run in-process against Prefect's ephemeral API server; on a busy 2-core machine it takes more than its
# default 20 s to start.
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
BACKENDS = ["sqlite", "postgresql"]


def _postgres_admin_url() -> str:
    return os.environ.get("RELANCE_TEST_POSTGRES_URL", DEFAULT_PG_URL)


@pytest.fixture(scope="session")
def postgresql_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test process, dropped at the end."""
    admin_url = make_url(_postgres_admin_url())
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - any connection failure means the server is unreachable
        admin.dispose()
        message = f"PostgreSQL unreachable at {admin_url.render_as_string(hide_password=True)}: {exc}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    name = f"relance_test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A SQLite file for this test process."""
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'relance.db'}"


_migrated: dict[str, Engine] = {}


def _migrated_engine(url: str) -> Engine:
    if url not in _migrated:
        engine = make_engine(url)
        upgrade(engine)
        _migrated[url] = engine
    return _migrated[url]


def _empty_all_tables(engine: Engine) -> None:
    tables = [table.name for table in reversed(Base.metadata.sorted_tables)]
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            quoted = ", ".join(f'"{name}"' for name in tables)
            connection.execute(text(f"TRUNCATE {quoted} RESTART IDENTITY CASCADE"))
        else:
            for name in tables:
                connection.execute(text(f'DELETE FROM "{name}"'))
            has_sequences = connection.execute(
                text("SELECT name FROM sqlite_master WHERE name = 'sqlite_sequence'")
            ).first()
            if has_sequences:
                connection.execute(text("DELETE FROM sqlite_sequence"))


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The database backend of this test: 'sqlite' or 'postgresql'."""
    return str(request.param)


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest) -> str:
    """The URL of a migrated, empty database of the test's backend."""
    return str(request.getfixturevalue(f"{backend}_url"))


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """A migrated engine on an empty database; emptied again after the test."""
    engine = _migrated_engine(database_url)
    _empty_all_tables(engine)
    yield engine
    _empty_all_tables(engine)


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    """A session on the test database (commit freely: tables are emptied after the test)."""
    with session_factory(engine)() as session:
        yield session


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """Settings pointing at the test database and a temporary outbox."""
    return Settings(
        database_url=database_url,
        outbox_dir=tmp_path / "outbox",
        secret_key="test-secret-key",  # type: ignore[arg-type]
        public_url="https://relance.test",
        _env_file=None,  # type: ignore[call-arg]
    )


@pytest.fixture
def cli_env(engine: Engine, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Environment for CLI tests: RELANCE_* pointing at the test database; returns the working dir."""
    monkeypatch.setenv("RELANCE_DATABASE_URL", database_url)
    monkeypatch.setenv("RELANCE_OUTBOX_DIR", str(tmp_path / "outbox"))
    monkeypatch.setenv("RELANCE_SECRET_KEY", "test-secret-key")
    monkeypatch.setenv("RELANCE_PUBLIC_URL", "https://relance.test")
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


@pytest.fixture(autouse=True)
def _real_clock() -> Iterator[None]:
    """Each test starts and ends on the real clock."""
    clock.reset()
    yield
    clock.reset()
