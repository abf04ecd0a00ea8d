"""Prefect flow applying stored feedback (webhooks, tracking hits) in batches, every minute."""

from __future__ import annotations

from typing import Any

from prefect import flow, task

from core.db import session_scope, shared_engine
from core.settings import get_settings
from feedback.apply import apply_pending


@task(retries=2, retry_delay_seconds=10)
def apply_batch(limit: int) -> dict[str, Any]:
    """Apply one batch of pending requests in its own transaction."""
    settings = get_settings()
    with session_scope(shared_engine(settings.database_url)) as session:
        return apply_pending(session, settings, limit=limit).as_dict()


@flow(name="apply-feedback", log_prints=True)
def apply_feedback(limit: int = 100, max_batches: int = 200) -> dict[str, int]:
    """Apply batches until nothing is pending (bounded, so one run never lasts forever)."""
    totals = {"requests": 0, "new_events": 0, "duplicates": 0, "failed_requests": 0}
    for _ in range(max_batches):
        summary = apply_batch(limit)
        for name in totals:
            totals[name] += summary[name]
        if summary["requests"] < limit:
            break
    print(f"feedback applied: {totals}")
    return totals


SCHEDULES: list[tuple[Any, dict[str, Any]]] = [(apply_feedback, {"interval": 60})]
