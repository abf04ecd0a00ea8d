"""Exactly once, for real: a 20,000-email campaign to a loopback fake SendGrid, its dispatcher process killed with
SIGKILL at random moments and restarted; the provider's own `processed` events come back through the signed
webhook between crashes. At the end the fake received every message exactly once. Also: two dispatcher processes
sharing one campaign never send a message twice."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from core.models import Message
from core.settings import Settings
from tests.campaign_support import FakeSendGrid, bulk_audience, fake_sendgrid, make_campaign, sendgrid_channels
from tests.test_web_support import apply, make_client, sendgrid_post, web_settings

RELANCE = str(Path(sys.executable).with_name("relance"))
AUDIENCE = 20_000


def _env(database_url: str, fake: FakeSendGrid, workdir: Path) -> dict[str, str]:
    return {**os.environ, "RELANCE_DATABASE_URL": database_url, "RELANCE_OUTBOX_DIR": str(workdir / "outbox"),
            "RELANCE_SECRET_KEY": "test-secret-key", "RELANCE_PUBLIC_URL": "https://relance.test",
            "RELANCE_CHANNELS": json.dumps(sendgrid_channels(fake)), "RELANCE_DISPATCH_LEASE_SECONDS": "3",
            "RELANCE_UNKNOWN_GRACE_SECONDS": "2", "RELANCE_BATCH_SIZE": "2000"}


def _sender(env: dict[str, str], workdir: Path, name: str = "crash") -> subprocess.Popen[bytes]:
    return subprocess.Popen([RELANCE, "campaign", "send", name, "--wait", "--json"], env=env, cwd=workdir,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _report_processed(engine: Engine, settings: Settings, fake: FakeSendGrid, reported: set[str]) -> None:
    """What SendGrid does on its own, well within the grace period: a signed `processed` event per accepted
    message, posted to our webhook."""
    fake.settle()
    fresh = sorted(set(fake.accepted()) - reported)
    config = web_settings(settings)
    with make_client(engine, config) as client:
        for start in range(0, len(fresh), 1000):
            events = [{"email": "someone@example.org", "event": "processed", "timestamp": int(time.time()),
                       "sg_event_id": f"processed-{message_id}", "sg_message_id": f"sg.{message_id}",
                       "message_id": message_id} for message_id in fresh[start:start + 1000]]
            assert sendgrid_post(client, events).status_code == 200
    apply(engine, config)
    reported.update(fresh)


def _wait_for_sending(fake: FakeSendGrid, process: subprocess.Popen[bytes], timeout: float = 120) -> None:
    """Until the new sender's first request reaches the provider (start-up and planning are not the point)."""
    before, deadline = len(fake.requests), time.monotonic() + timeout
    while len(fake.requests) == before and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)


def _expected_ids(session: Session) -> set[str]:
    session.expire_all()
    return set(session.scalars(select(Message.id).where(Message.status != "held_out")))


@pytest.mark.slow
def test_sigkilled_dispatcher_sends_every_message_exactly_once(engine: Engine, session: Session, settings: Settings,
                                                               database_url: str, tmp_path: Path) -> None:
    bulk_audience(session, AUDIENCE)
    make_campaign(session, name="crash", segment="bulk", template="newsletter", holdout=0.05)
    rng = random.Random(20261130)
    reported: set[str] = set()
    kills = 0
    with fake_sendgrid() as fake:
        fake.delay = 0.15  # each request of up to 1000 personalizations takes a while: kills land mid-batch
        env = _env(database_url, fake, tmp_path)
        for _ in range(6):
            process = _sender(env, tmp_path)
            _wait_for_sending(fake, process)
            time.sleep(rng.uniform(0.0, 1.2))  # a random moment of the send loop
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
                kills += 1
            process.wait()
            _report_processed(engine, settings, fake, reported)
        final = _sender(env, tmp_path)
        out, err = final.communicate(timeout=600)
        assert final.returncode == 0, err.decode()
        assert json.loads(out)["status"] == "completed"
        accepted = fake.accepted()
    expected = _expected_ids(session)
    assert kills >= 3  # the scenario really crashed the sender several times
    assert len(expected) > AUDIENCE * 0.9
    assert set(accepted) == expected, "every planned message reached the provider"
    assert max(accepted.values()) == 1, "no message reached the provider twice"
    assert {status for (status,) in session.execute(select(Message.status).distinct())} == {"sent", "held_out"}
    # Sends a crash cut off after the provider took them (no provider id recorded): only its feedback proved them.
    proven = session.scalar(select(func.count()).where(Message.status == "sent",
                                                       Message.provider_message_id.is_(None)))
    assert proven, "no kill landed between the provider's answer and the ledger write: the scenario proved nothing"


@pytest.mark.slow
def test_two_dispatchers_on_one_campaign_never_send_twice(engine: Engine, session: Session, settings: Settings,
                                                          database_url: str, tmp_path: Path) -> None:
    bulk_audience(session, 6000)
    make_campaign(session, name="shared", segment="bulk", template="welcome")  # one request per message
    with fake_sendgrid() as fake:
        env = {**_env(database_url, fake, tmp_path), "RELANCE_BATCH_SIZE": "200"}
        first, second = _sender(env, tmp_path, "shared"), _sender(env, tmp_path, "shared")
        outputs = [process.communicate(timeout=600) for process in (first, second)]
        assert first.returncode == 0 and second.returncode == 0, [err.decode()[-2000:] for _, err in outputs]
        accepted = fake.accepted()
    runs = [json.loads(out)["this_run"] for out, _ in outputs]
    assert all(run["sent"] > 0 for run in runs), f"both dispatchers must have taken part: {runs}"
    assert sum(run["sent"] for run in runs) == 6000
    assert set(accepted) == _expected_ids(session) and len(accepted) == 6000
    assert max(accepted.values()) == 1
