"""Exactly once under crashes and concurrency, for real: a worker advancing a 10,000-contact journey is killed
with SIGKILL at random moments (three times), then a normal run finishes it — every contact got each message once,
no step ran twice, no enrollment was lost. Two workers advancing one journey on PostgreSQL never duplicate. Fifty
concurrent triggers for one contact make one enrollment."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from contacts.timeline import NewEvent, record_events
from core import clock
from core.db import session_scope
from core.models import Contact, Enrollment, EnrollmentStep, Message
from core.settings import Settings
from journeys.service import enroll_now, get_journey
from journeys.tick import tick
from journeys.triggers import keys_source
from tests.campaign_support import FakeSendGrid, bulk_audience, fake_sendgrid, sendgrid_channels
from tests.journeys.support import make_journey, people
from tests.test_campaigns_crash import _report_processed

RELANCE = str(Path(sys.executable).with_name("relance"))
CRASH = {"name": "crash", "trigger": {"event": "form.submitted", "where": {"form": "crash"}}, "steps": [
    {"id": "welcome", "send": {"channel": "email", "template": "newsletter"}},
    {"id": "pause", "wait": "2s"},
    {"id": "check", "branch": [{"if": {"score": {"gte": 0}}, "goto": "bump"}, {"else": "done"}]},
    {"id": "bump", "update": {"score": 1, "add_tags": ["bumped"]}},
    {"id": "second", "send": {"channel": "email", "template": "newsletter"}},
    {"id": "done", "exit": True}]}
PATH = ["welcome", "pause", "check", "bump", "second", "done"]


def _env(database_url: str, fake: FakeSendGrid, workdir: Path, batch: int) -> dict[str, str]:
    return {**os.environ, "RELANCE_DATABASE_URL": database_url, "RELANCE_OUTBOX_DIR": str(workdir / "outbox"),
            "RELANCE_SECRET_KEY": "test-secret-key", "RELANCE_PUBLIC_URL": "https://relance.test",
            "RELANCE_CHANNELS": json.dumps(sendgrid_channels(fake)), "RELANCE_DISPATCH_LEASE_SECONDS": "3",
            "RELANCE_UNKNOWN_GRACE_SECONDS": "2", "RELANCE_BATCH_SIZE": "1000",
            "RELANCE_JOURNEY_BATCH_SIZE": str(batch), "RELANCE_JOURNEY_LEASE_SECONDS": "3"}


def _worker(env: dict[str, str], workdir: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([RELANCE, "journey", "advance", "--until-done", "--every", "0.3", "--json"], env=env,
                            cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _progress(session: Session, fake: FakeSendGrid) -> int:
    session.expire_all()
    done = session.scalar(select(func.count()).select_from(EnrollmentStep)) or 0
    return int(done) + session.scalar(select(func.count()).select_from(Enrollment)) + len(fake.requests)


def _working(session: Session, fake: FakeSendGrid, process: subprocess.Popen[bytes], timeout: float = 120) -> None:
    """Until the new worker has made progress of its own (enrolled, moved or sent something)."""
    before, deadline = _progress(session, fake), time.monotonic() + timeout
    while process.poll() is None and time.monotonic() < deadline and _progress(session, fake) == before:
        time.sleep(0.05)


def _sending(fake: FakeSendGrid, process: subprocess.Popen[bytes], timeout: float = 120) -> None:
    before, deadline = len(fake.requests), time.monotonic() + timeout
    while len(fake.requests) == before and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)


def _forms(session: Session, prefix: str = "bulk") -> None:
    ids = list(session.scalars(select(Contact.id).where(Contact.email.like(f"{prefix}%"))))
    record_events(session, [NewEvent("form.submitted", f"crash-form:{contact_id}", contact_id, clock.now(),
                                     properties={"form": "crash"}) for contact_id in ids])
    session.commit()


def _check_exactly_once(session: Session, accepted: dict[str, int], audience: int) -> None:
    session.expire_all()
    statuses = dict(session.execute(select(Enrollment.status, func.count()).group_by(Enrollment.status)).tuples().all())
    assert statuses == {"completed": audience}, "every enrollment finished, none lost"
    logs = dict(session.execute(select(EnrollmentStep.step, func.count()).group_by(EnrollmentStep.step)).tuples().all())
    assert logs == dict.fromkeys(PATH, audience), "each step ran once per enrollment"
    expected = set(session.scalars(select(Message.id)))
    assert len(expected) == 2 * audience
    assert set(accepted) == expected, "every message reached the provider"
    assert max(accepted.values()) == 1, "no message reached the provider twice"
    scores = dict(session.execute(select(Contact.score, func.count()).where(Contact.email.like("bulk%"))
                                  .group_by(Contact.score)).tuples().all())
    assert scores == {1: audience}, "the update step ran once per contact"


@pytest.mark.slow
def test_killed_workers_then_a_normal_run_send_every_message_exactly_once(
        engine: Engine, session: Session, settings: Settings, database_url: str, tmp_path: Path) -> None:
    audience = 10_000
    bulk_audience(session, audience)
    make_journey(session, settings, CRASH)
    _forms(session)
    rng = random.Random(20261206)
    reported: set[str] = set()
    kills = 0
    with fake_sendgrid() as fake:
        fake.delay = 0.2  # a request of up to 1000 messages takes a while: kills land mid-batch
        env = _env(database_url, fake, tmp_path, batch=1500)
        for round_ in range(3):
            process = _worker(env, tmp_path)
            _working(session, fake, process)
            if round_ == 1:  # this one dies while sending: after a request reached the provider
                _sending(fake, process)
                time.sleep(rng.uniform(0.0, 0.3))
            else:  # a random moment: enrolling, advancing a batch, ledgering, sending
                time.sleep(rng.uniform(0.0, 1.5))
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
                kills += 1
            process.wait()
            _report_processed(engine, settings, fake, reported)
        assert kills == 3, "each worker was killed while it worked"
        session.expire_all()
        unfinished = session.scalar(select(func.count()).where(Enrollment.status == "active"))
        unsent = session.scalar(select(func.count()).where(Message.status.in_(("queued", "sending", "unknown"))))
        assert unfinished or unsent, "the kills left nothing undone: the scenario proved nothing"
        final = _worker(env, tmp_path)
        out, err = final.communicate(timeout=900)
        assert final.returncode == 0, err.decode()[-3000:]
        assert json.loads(out)["ticks"] >= 1
        accepted = fake.accepted()
    _check_exactly_once(session, dict(accepted), audience)
    proven = session.scalar(select(func.count()).where(Message.status == "sent",
                                                       Message.provider_message_id.is_(None)))
    assert proven, "no kill landed between the provider's answer and the ledger write: the scenario proved nothing"


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_two_workers_advancing_one_journey_never_duplicate(engine: Engine, session: Session, settings: Settings,
                                                           database_url: str, tmp_path: Path) -> None:
    audience = 3000
    bulk_audience(session, audience)
    make_journey(session, settings, CRASH)
    _forms(session)
    with fake_sendgrid() as fake:
        env = _env(database_url, fake, tmp_path, batch=150)
        first, second = _worker(env, tmp_path), _worker(env, tmp_path)
        outputs = [process.communicate(timeout=600) for process in (first, second)]
        assert first.returncode == 0 and second.returncode == 0, [err.decode()[-2000:] for _, err in outputs]
        accepted = fake.accepted()
    runs = [json.loads(out) for out, _ in outputs]
    worked = [sum(sum(item["steps"].values()) for item in run["journeys"]) for run in runs]
    assert all(count > 0 for count in worked), f"both workers must have advanced enrollments: {worked}"
    _check_exactly_once(session, dict(accepted), audience)


def _together(count: int, action: Any) -> list[BaseException]:
    """Run `action(index)` in `count` threads released at once; the errors they raised."""
    errors: list[BaseException] = []
    barrier = threading.Barrier(count)

    def run(index: int) -> None:
        try:
            barrier.wait()
            action(index)
        except BaseException as exc:  # noqa: BLE001 - returned to the test
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def _enrollments(session: Session, journey_id: int) -> int:
    session.expire_all()
    return int(session.scalar(select(func.count()).where(Enrollment.journey_id == journey_id)) or 0)


def test_fifty_concurrent_triggers_for_one_contact_make_one_enrollment(engine: Engine, session: Session,
                                                                       settings: Settings) -> None:
    once = make_journey(session, settings, {**CRASH, "name": "once", "trigger": "manual"})
    again = make_journey(session, settings, {**CRASH, "name": "again", "trigger": "manual", "re_entry": "always"})
    email = people(session, 1)[0].email or ""

    def trigger(index: int) -> None:
        with session_scope(engine) as own:
            for name in ("once", "again"):
                enroll_now(own, settings, get_journey(own, name), keys_source([email], f"manual:{index}"))

    assert _together(50, trigger) == []
    assert _enrollments(session, once.id) == 1 and _enrollments(session, again.id) == 1


def test_concurrent_ticks_over_fifty_trigger_events_enroll_once(engine: Engine, session: Session,
                                                                settings: Settings) -> None:
    journey = make_journey(session, settings, {**CRASH, "name": "forms", "trigger": {"event": "form.submitted"},
                                                "steps": [{"id": "done", "exit": True}]})
    person = people(session, 1)[0]
    record_events(session, [NewEvent("form.submitted", f"form-{index}", person.id, clock.now(), properties={})
                            for index in range(50)])
    session.commit()
    assert _together(8, lambda _: tick(engine, settings, dispatch=False)) == []
    assert _enrollments(session, journey.id) == 1
