"""The Prefect side: the send-campaign flow in-process, and `relance worker` (a real local Prefect server and
runner) sending a campaign scheduled a few seconds ahead, at its time."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from campaigns.planner import plan_campaign
from core import clock
from core.models import Campaign, Message
from core.settings import Settings
from flows.campaigns import SCHEDULES, dispatch_due_campaigns, send_campaign
from flows.deployments import deployments
from tests.campaign_support import make_audience, make_campaign, statuses

RELANCE = str(Path(sys.executable).with_name("relance"))


def test_send_campaign_flow_plans_and_sends_in_batches(cli_env: Path, engine: Engine, session: Session,
                                                       settings: Settings) -> None:
    make_audience(session, 9)
    campaign = make_campaign(session)
    result = send_campaign(campaign.id, batch_size=4)
    assert result["written"] == 9 and result["batches"] == 3 and result["sent"] == 9
    assert result["status"] == "completed"
    assert statuses(session, campaign) == {"sent": 9}
    assert len(list((cli_env / "outbox" / "email").glob("*.eml"))) == 9


def test_dispatch_due_campaigns_only_takes_campaigns_whose_time_has_come(cli_env: Path, engine: Engine,
                                                                          session: Session, settings: Settings) -> None:
    make_audience(session, 2)
    make_campaign(session, name="later", schedule=(clock.now() + timedelta(hours=2)).isoformat())
    due = make_campaign(session, name="due", schedule=(clock.now() - timedelta(minutes=1)).isoformat())
    results = dispatch_due_campaigns()
    assert [(item["campaign"], item["status"]) for item in results] == [("due", "completed")]
    assert statuses(session, due) == {"sent": 2}
    later = session.scalars(select(Campaign).where(Campaign.name == "later")).one()
    assert later.status == "scheduled" and statuses(session, later) == {}


def test_deployments_cover_every_schedule(settings: Settings) -> None:
    built = {deployment.name: deployment for deployment in deployments(settings)}
    assert "relance-dispatch-due-campaigns" in built and "relance-refresh-segments" in built
    assert SCHEDULES[0][0] is dispatch_due_campaigns
    assert all(deployment.entrypoint.startswith("flows.") for deployment in built.values())


@pytest.mark.slow
def test_worker_sends_a_campaign_scheduled_a_few_seconds_ahead(engine: Engine, session: Session, settings: Settings,
                                                               database_url: str, tmp_path: Path) -> None:
    make_audience(session, 5)
    at = clock.now() + timedelta(seconds=20)
    campaign = make_campaign(session, name="soon", schedule=at.isoformat())
    env = {**os.environ, "RELANCE_DATABASE_URL": database_url, "RELANCE_OUTBOX_DIR": str(tmp_path / "outbox"),
           "RELANCE_SECRET_KEY": "test-secret-key", "RELANCE_DISPATCH_INTERVAL_SECONDS": "3",
           "PREFECT_RUNNER_POLL_FREQUENCY": "2"}
    env.pop("PREFECT_API_URL", None)
    worker = subprocess.Popen([RELANCE, "worker", "--scheduler-seconds", "2", "--prefect-home",
                               str(tmp_path / "prefect")], env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and worker.poll() is None:
            session.expire_all()
            if session.get(Campaign, campaign.id).status == "completed":  # type: ignore[union-attr]
                break
            time.sleep(1)
    finally:
        worker.send_signal(signal.SIGINT)
        try:
            output = worker.communicate(timeout=30)[0].decode(errors="replace")
        except subprocess.TimeoutExpired:
            worker.kill()
            output = worker.communicate()[0].decode(errors="replace")
    session.expire_all()
    assert session.get(Campaign, campaign.id).status == "completed", output[-3000:]  # type: ignore[union-attr]
    sent_at = [clock.utc(value) for value in session.scalars(select(Message.sent_at))]
    assert len(sent_at) == 5 and min(sent_at) >= at  # not a moment before its time
    assert len(list((tmp_path / "outbox" / "email").glob("*.eml"))) == 5


def test_plan_then_flow_resumes_where_a_previous_sender_stopped(cli_env: Path, engine: Engine, session: Session,
                                                                 settings: Settings) -> None:
    make_audience(session, 6)
    campaign = make_campaign(session)
    plan_campaign(session, settings, campaign, dry_run=False)
    session.commit()
    result = send_campaign(campaign.id, batch_size=10)
    assert result["written"] == 0 and result["sent"] == 6 and result["status"] == "completed"


def test_provider_throttle_shares_a_prefect_rate_limit_and_is_free_without_one() -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate

    from flows.campaigns import _limit_of, provider_throttle

    provider = f"bench{uuid.uuid4().hex[:8]}"
    with get_client(sync_client=True) as client:
        client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(
            name=f"relance-{provider}", limit=4, slot_decay_per_second=4.0))
    _limit_of.cache_clear()
    started = time.monotonic()
    provider_throttle(provider, 12)  # 12 messages through a bucket of 4 refilled at 4/s
    assert time.monotonic() - started >= 1.5
    started = time.monotonic()
    provider_throttle(f"none{provider}", 10_000)  # no limit configured: no wait
    assert time.monotonic() - started < 5
