"""The Prefect side: `advance-journeys` is a deployment of `relance worker` at RELANCE_JOURNEY_INTERVAL_SECONDS, and
the flow run ticks every live journey (one task per journey; the work itself is set-based)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from core import clock
from core.settings import Settings, get_settings
from flows.deployments import deployments
from flows.journeys import SCHEDULES, advance_journeys
from tests.journeys.support import document, make_journey, people, submit_form, where_are


def test_the_deployment_runs_at_the_configured_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RELANCE_JOURNEY_INTERVAL_SECONDS", "45")
    get_settings.cache_clear()
    try:
        built = {deployment.name: deployment for deployment in deployments(get_settings())}
    finally:
        get_settings.cache_clear()
    deployment = built["relance-advance-journeys"]
    assert SCHEDULES[0][0] is advance_journeys and deployment.entrypoint == "flows.journeys.advance_journeys"
    interval = deployment.schedules[0].schedule.interval
    assert interval == timedelta(seconds=45)
    assert Settings.model_fields["journey_interval_seconds"].default == 60


def test_the_flow_ticks_every_live_journey(cli_env: Path, session: Session, settings: Settings) -> None:
    journey = make_journey(session, settings, document(steps=[
        {"id": "hello", "send": {"channel": "email", "template": "welcome"}}]))
    submit_form(session, people(session, 3))
    clock.travel(timedelta(seconds=1))
    results = advance_journeys()
    assert results[0]["journeys"][0]["enrolled"] == 3 and results[0]["sent"] == 3
    assert where_are(session, journey) == {("hello", "completed"): 3}
    assert len(list((cli_env / "outbox" / "email").glob("*.eml"))) == 3
