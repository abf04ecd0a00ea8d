"""The Prefect flow that runs journeys: `advance-journeys` enrolls from triggers, advances what is due and dispatches
what became sendable, every RELANCE_JOURNEY_INTERVAL_SECONDS under `relance worker`. One flow run per tick for all
journeys — never a flow run or a pause per contact; the work happens set-based in the database."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prefect import flow, get_run_logger, task

from core.db import shared_engine
from core.settings import get_settings
from journeys.tick import live_journeys, tick


@task(retries=2, retry_delay_seconds=[5, 30])
def advance_one(journey_id: int) -> dict[str, Any]:
    """One journey's tick and the dispatch of its due messages (claims make a retry or a parallel worker safe)."""
    settings = get_settings()
    return tick(shared_engine(settings.database_url), settings, journey_ids=[journey_id]).as_dict()


@flow(name="advance-journeys", log_prints=True)
def advance_journeys() -> list[dict[str, Any]]:
    """Tick every live journey (one task each, so one journey's failure does not hold the others)."""
    settings = get_settings()
    ids = live_journeys(shared_engine(settings.database_url))
    if not ids:
        get_run_logger().info("no live journey")
        return []
    results = [advance_one(journey_id) for journey_id in ids]
    for result in results:
        for item in result["journeys"]:
            print(f"{item['journey']}: {item['enrolled']} enrolled, steps {item['steps']}, "
                  f"finished {item['finished']}; sent {result['sent']}")
    return results


SCHEDULES: list[tuple[Callable[..., Any], dict[str, Any]]] = [(advance_journeys, {"interval": 60})]
