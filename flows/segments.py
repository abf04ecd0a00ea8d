"""Prefect flow refreshing every dynamic segment (dependencies first), one task per segment."""

from __future__ import annotations

from typing import Any

from prefect import flow, task
from sqlalchemy import Engine, select

from core.db import session_scope, shared_engine
from core.models import Segment
from core.settings import get_settings
from segments.refresh import dependency_order, refresh_segment


def _session_engine() -> Engine:
    return shared_engine(get_settings().database_url)


@task
def dynamic_segments() -> list[str]:
    """Names of the dynamic segments, each after the segments it refers to."""
    with session_scope(_session_engine()) as session:
        segments = list(session.scalars(select(Segment).where(Segment.kind == "dynamic")))
        return [segment.name for segment in dependency_order(segments)]


@task(retries=2, retry_delay_seconds=30)
def refresh_one(name: str) -> dict[str, Any]:
    """Refresh one segment in its own transaction (entries/exits written in SQL)."""
    with session_scope(_session_engine()) as session:
        result = refresh_segment(session, name).as_dict()
    return result | {"refreshed_at": result["refreshed_at"].isoformat()}


@flow(name="refresh-segments", log_prints=True)
def refresh_segments() -> list[dict[str, Any]]:
    """Refresh all dynamic segments in dependency order (sequential: a segment may read another's members)."""
    results = [refresh_one(name) for name in dynamic_segments()]
    for result in results:
        print(f"{result['segment']}: size {result['size']} (+{result['entered']} / -{result['exited']})")
    return results


SCHEDULES: list[tuple[Any, dict[str, Any]]] = [(refresh_segments, {"interval": 900})]
