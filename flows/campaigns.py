"""Prefect flows that send campaigns: plan once, then one task per batch of 1,000–5,000 messages, with retries;
`dispatch_due_campaigns` runs on a schedule and picks up whatever has come due. Tasks only call the domain."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.client.orchestration import get_client
from prefect.concurrency.sync import rate_limit
from sqlalchemy import Engine

from campaigns.dispatcher import Dispatcher, summary_line
from campaigns.sending import due_campaigns, start_campaign
from campaigns.service import get_campaign
from core.db import session_scope, shared_engine
from core.settings import get_settings

MAX_BATCHES_PER_RUN = 1000  # a bound so one flow run never lasts forever; the next scheduled run carries on


def _current_engine() -> Engine:
    return shared_engine(get_settings().database_url)


@lru_cache(maxsize=32)
def _limit_of(name: str) -> int | None:
    """The slot count of the Prefect global concurrency limit `name`, if an operator created one."""
    try:
        with get_client(sync_client=True) as client:
            return int(client.read_global_concurrency_limit_by_name(name).limit)
    except Exception:  # noqa: BLE001 - no such limit (or no API): sending is not throttled by Prefect
        return None


def provider_throttle(provider: str, count: int) -> None:
    """Wait for `count` slots of the rate limit `relance-<provider>` shared by every worker (created by the operator
    with `prefect gcl create relance-sendgrid --limit 100 --slot-decay-per-second 100`); no limit, no wait."""
    name = f"relance-{provider}"
    limit = _limit_of(name)
    while limit and count > 0:
        taken = min(count, limit)
        rate_limit(name, occupy=taken, strict=False)
        count -= taken


@task(retries=3, retry_delay_seconds=10)
def plan(campaign_id: int) -> dict[str, Any]:
    """Write the campaign's ledger (idempotent: a second run writes nothing)."""
    with session_scope(_current_engine()) as session:
        campaign = get_campaign(session, campaign_id)
        if campaign.status not in ("draft", "scheduled"):
            return {"campaign": campaign.name, "written": 0, "status": campaign.status}
        report = start_campaign(session, get_settings(), campaign, actor="worker")
        return {"campaign": campaign.name, "written": report.written, "to_send": report.to_send}


_dispatchers: dict[tuple[int, int | None], Dispatcher] = {}


def _dispatcher(batch_size: int | None = None) -> Dispatcher:
    """The process's dispatcher for the current settings: its backends keep their connections from batch to batch
    and from run to run (a worker serves flows for days)."""
    settings = get_settings()
    key = (id(settings), batch_size)
    if key not in _dispatchers:
        _dispatchers[key] = Dispatcher(shared_engine(settings.database_url), settings, throttle=provider_throttle,
                                       batch_size=batch_size)
    return _dispatchers[key]


@task(retries=3, retry_delay_seconds=[5, 30, 120])
def send_batch(campaign_id: int, batch_size: int | None = None) -> dict[str, Any]:
    """Claim, render, send and record one batch (a crash mid-batch is settled by the next reconciliation)."""
    return summary_line(_dispatcher(batch_size).run_batch(campaign_id))


@task
def settle(campaign_id: int) -> str:
    """Reconcile leases and complete the campaign if nothing is left; returns its status."""
    return _dispatcher().settle(campaign_id)


@flow(name="send-campaign", log_prints=True)
def send_campaign(campaign_id: int, batch_size: int | None = None) -> dict[str, Any]:
    """Plan the campaign if needed, then send batch after batch until nothing is due now."""
    planned = plan(campaign_id)
    totals = {"batches": 0, "sent": 0, "failed": 0, "retried": 0}
    for _ in range(MAX_BATCHES_PER_RUN):
        batch = send_batch(campaign_id, batch_size)
        if batch["stopped"] or not batch["claimed"]:
            break
        totals["batches"] += 1
        for key in ("sent", "failed", "retried"):
            totals[key] += batch[key]
        if batch["paused_because"]:
            print(f"campaign paused: {batch['paused_because']}")
            break
    status = settle(campaign_id)
    print(f"campaign {planned['campaign']}: {totals} — now {status}")
    return {**planned, **totals, "status": status}


@flow(name="dispatch-due-campaigns", log_prints=True)
def dispatch_due_campaigns() -> list[dict[str, Any]]:
    """Send every campaign that has work due: scheduled ones whose time has come, and sending ones."""
    with session_scope(_current_engine()) as session:
        due = due_campaigns(session)
    if not due:
        get_run_logger().info("no campaign due")
    return [send_campaign(campaign_id) for campaign_id in due]


SCHEDULES: list[tuple[Callable[..., Any], dict[str, Any]]] = [(dispatch_due_campaigns, {"interval": 30})]
