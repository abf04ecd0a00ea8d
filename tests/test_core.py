"""Core: the migrations produce the models' schema, the timeline is idempotent, tokens resist tampering."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from connectors.base import ConfigurationError
from connectors.registry import check_channels, get_backend
from contacts.timeline import NewEvent, record_events, timeline
from core import clock, signing
from core.migrate import current_revision
from core.models import Base, ContactEventStat, Event
from core.settings import Settings
from tests.helpers import make_contact, run_cli


def test_migrations_match_models(engine: Engine) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, Base.metadata)
    assert differences == []


def test_init_is_idempotent(cli_env: object, engine: Engine) -> None:
    first = run_cli("init")
    assert first.exit_code == 0, first.output
    again = run_cli("init")
    assert again.exit_code == 0 and "already at revision" in again.output
    assert current_revision(engine) is not None


def test_datetimes_come_back_aware_utc(session: Session) -> None:
    paris = datetime(2026, 3, 1, 9, 30, tzinfo=UTC) + timedelta(hours=1)
    contact = make_contact(session, email="a@example.com")
    record_events(session, [NewEvent("email.opened", "k1", contact.id, paris)])
    session.commit()
    stored = session.scalars(select(Event)).one()
    assert stored.occurred_at == paris and stored.occurred_at.tzinfo is not None


def test_record_events_is_idempotent_and_keeps_stats(session: Session) -> None:
    contact = make_contact(session, email="a@example.com")
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    events = [
        NewEvent("conversion", f"c{i}", contact.id, t0 + timedelta(days=i), value=Decimal("10.50"))
        for i in range(3)
    ]
    assert record_events(session, events + events[:1]) == 3
    assert record_events(session, events) == 0  # a webhook delivered twice counts once
    record_events(session, [NewEvent("conversion", "early", contact.id, t0 - timedelta(days=5))])
    session.commit()
    stat = session.get(ContactEventStat, (contact.id, "conversion"))
    assert stat is not None
    assert stat.count == 4
    assert stat.first_at == t0 - timedelta(days=5)
    assert stat.last_at == t0 + timedelta(days=2)
    assert stat.total == Decimal("31.50")
    assert [event.dedupe_key for event in timeline(session, contact.id)][:2] == ["c2", "c1"]


def test_clock_can_be_frozen_and_moved() -> None:
    moment = datetime(2026, 6, 1, 12, tzinfo=UTC)
    with clock.frozen_at(moment):
        assert clock.now() == moment
        clock.travel(timedelta(days=1))
        assert clock.now() == moment + timedelta(days=1)
    assert clock.now() > moment + timedelta(days=100)


def test_signed_tokens_round_trip_and_refuse_tampering() -> None:
    token = signing.sign({"m": "abc", "u": 3}, secret="s", purpose="click")
    assert signing.unsign(token, secret="s", purpose="click") == {"m": "abc", "u": 3}
    with pytest.raises(signing.BadToken):
        signing.unsign(token, secret="s", purpose="unsubscribe")
    with pytest.raises(signing.BadToken):
        signing.unsign(token, secret="other", purpose="click")
    body, _, mac = token.partition(".")
    forged = signing.sign({"m": "abc", "u": 4}, secret="x", purpose="click").partition(".")[0]
    with pytest.raises(signing.BadToken):
        signing.unsign(f"{forged}.{mac}", secret="s", purpose="click")
    with pytest.raises(signing.BadToken):
        signing.unsign("garbage", secret="s", purpose="click")


def test_suppression_hash_ignores_case_and_spaces() -> None:
    assert signing.hash_address("email", " A@Example.com ") == signing.hash_address("email", "a@example.com")
    assert signing.hash_address("email", "a@example.com") != signing.hash_address("sms", "a@example.com")


def test_channels_setting_is_json_and_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RELANCE_CHANNELS", '{"email": {"backend": "memory"}}')
    configured = Settings(_env_file=None)  # type: ignore[call-arg]
    assert get_backend("email", configured).name == "memory"
    monkeypatch.setenv(
        "RELANCE_CHANNELS",
        '{"email": {"backend": "memory"}, "mail": {"backend": "memory"}, "sms": {"backend": "carrier-pigeon"}}',
    )
    with pytest.raises(ConfigurationError, match="channel 'sms'.*carrier-pigeon"):
        check_channels(Settings(_env_file=None))  # type: ignore[call-arg]


def _relance(tmp_path: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RELANCE_DATABASE_URL": url, "COLUMNS": "200"}
    return subprocess.run([str(Path(sys.executable).with_name("relance")), *args], env=env, cwd=tmp_path,
                           capture_output=True, text=True, timeout=120, check=False)


def test_a_database_without_schema_or_server_is_a_one_line_error(tmp_path: Path) -> None:
    empty = _relance(tmp_path, f"sqlite:///{tmp_path / 'empty.db'}", "report", "roi")
    assert empty.returncode == 1 and "Traceback" not in empty.stderr
    assert "has no Relance schema yet: run `relance init` first" in empty.stderr
    behind = tmp_path / "behind.db"
    with sqlite3.connect(behind) as connection:
        connection.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY)")
        connection.execute("INSERT INTO alembic_version VALUES ('0000')")
    old = _relance(tmp_path, f"sqlite:///{behind}", "segment", "list")
    assert old.returncode == 1 and "is at schema revision 0000" in old.stderr and "run `relance init`" in old.stderr
    unreachable = _relance(tmp_path, "postgresql+psycopg://nobody:secret@127.0.0.1:9/relance", "contacts", "count")
    assert unreachable.returncode == 1 and "cannot use the database at" in unreachable.stderr
    assert "secret" not in unreachable.stderr and "Traceback" not in unreachable.stderr
