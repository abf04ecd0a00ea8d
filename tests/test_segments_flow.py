"""The Prefect flow refreshes every dynamic segment, dependencies first (run for real, in-process)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from core.db import session_scope
from flows.segments import SCHEDULES, refresh_segments
from segments.service import create_segment, get_segment
from tests.helpers import make_contact


def test_flow_refreshes_dynamic_segments_in_dependency_order(cli_env: Path, engine: Engine) -> None:
    with session_scope(engine) as session:
        make_contact(session, email="anne@example.fr", country="FR", score=90, commit=False)
        make_contact(session, email="bert@example.fr", country="FR", score=10, commit=False)
        create_segment(session, "french", {"conditions": [{"field": "country", "op": "eq", "value": "FR"}]})
        create_segment(session, "a-hot-french", {"conditions": [{"segment": "french"}, {"score": {"gte": 50}}]})
        create_segment(session, "list", kind="static")
    results = refresh_segments()
    assert [(row["segment"], row["size"], row["entered"]) for row in results] == [
        ("french", 2, 2), ("a-hot-french", 1, 1)]
    with session_scope(engine) as session:
        assert get_segment(session, "a-hot-french").size == 1
    assert [(refresh_segments, {"interval": 900})] == SCHEDULES
