"""Prefect flows for scoring: nightly rules + model application + stages, weekly retraining (keeps the better model)."""

from __future__ import annotations

import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

from prefect import flow, task, unmapped
from sqlalchemy import Engine

from core import clock
from core.db import session_scope, shared_engine
from core.dialect import is_sqlite
from core.settings import get_settings
from scoring.features import id_batches
from scoring.lifecycle import advance_batch
from scoring.plan import load_plan
from scoring.predict import apply_batch, retrain
from scoring.registry import NoModel, load_model
from scoring.rules import score_batch
from scoring.target import NotEnoughData


def _engine() -> Engine:
    """One engine (and connection pool) per database for every task of the process."""
    return shared_engine(get_settings().database_url)


def _secret() -> str:
    return get_settings().secret_key.get_secret_value()


@task
def contact_batches(batch_size: int) -> list[tuple[int, int]]:
    """Id ranges of live contacts, batch_size each."""
    with session_scope(_engine()) as session:
        return id_batches(session, batch_size)


@task
def rule_scores(plan_path: str, id_range: tuple[int, int], now: datetime, run_key: str) -> int:
    """Rule-score one batch of contacts."""
    with session_scope(_engine()) as session:
        return score_batch(session, load_plan(plan_path), now=now, id_range=id_range, run_key=run_key)


@task
def model_scores(id_range: tuple[int, int]) -> int:
    """Apply the active model to one batch (0 when there is no model yet)."""
    with session_scope(_engine()) as session:
        try:
            _, trained = load_model(session, _secret())
        except NoModel:
            return 0
        return apply_batch(session, trained, id_range)


@task
def stages(plan_path: str, id_range: tuple[int, int], now: datetime, run_key: str) -> int:
    """Move one batch of contacts through the lifecycle thresholds."""
    with session_scope(_engine()) as session:
        return advance_batch(session, load_plan(plan_path).lifecycle, id_range=id_range, now=now, run_key=run_key)


@task
def retrain_task(folds: int, horizon_days: int | None) -> dict[str, Any]:
    """Train a new version of the active model's target; it becomes active only if it evaluates at least as well."""
    with session_scope(_engine()) as session:
        try:
            result = retrain(session, secret=_secret(), folds=folds, horizon_days=horizon_days)
        except NotEnoughData as exc:
            return {"skipped": str(exc)}
        return result.to_json()


@flow(name="scoring-nightly")
def nightly_scoring(plan_path: str = "scoring-plan.yaml", batch_size: int = 5000) -> dict[str, int]:
    """Rule scores, then model probabilities, then lifecycle stages, batch by batch."""
    load_plan(Path(plan_path))  # fail fast on a bad plan, before touching any contact
    now = clock.now()
    score_run, stage_run = f"score:{uuid.uuid4().hex[:12]}", f"stage:{uuid.uuid4().hex[:12]}"
    batches = contact_batches(batch_size)
    changed = _each(rule_scores, batches, before=(plan_path,), after=(now, score_run))
    scored = _each(model_scores, batches)
    moved = _each(stages, batches, before=(plan_path,), after=(now, stage_run))
    return {"batches": len(batches), "scores_changed": changed, "predicted": scored, "stages_moved": moved}


def _each(work: Any, batches: list[tuple[int, int]], *, before: tuple[Any, ...] = (),
          after: tuple[Any, ...] = ()) -> int:
    """Run `work(*before, batch, *after)` for every batch and add up the counts: concurrently (mapped tasks) on
    PostgreSQL; one after the other on SQLite, whose single writer would refuse concurrent upgrades to write."""
    if is_sqlite(get_settings().database_url):
        return sum(int(work(*before, batch, *after)) for batch in batches)
    futures = work.map(*(unmapped(value) for value in before), batches, *(unmapped(value) for value in after))
    return sum(int(count) for count in futures.result())


@flow(name="scoring-weekly-retrain")
def weekly_retrain(folds: int = 5, horizon_days: int | None = None) -> dict[str, Any]:
    """Retrain the predictive model, keeping the previous one if the new one evaluates worse."""
    return retrain_task(folds, horizon_days)


SCHEDULES: list[tuple[Any, dict[str, Any]]] = [
    (nightly_scoring, {"cron": "30 2 * * *"}),
    (weekly_retrain, {"cron": "0 4 * * 0"}),
]
