"""The scoring Prefect flows: nightly rules + model + stages in batches; weekly retraining keeps a better model."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, func, select, update

from cli.demo.synthetic_company import build_company
from core import clock
from core.db import session_scope
from core.models import Contact, Event, ScoringModel
from scoring.predict import train_model
from scoring.target import Target

NOW = datetime(2026, 6, 1, tzinfo=UTC)
PLAN = Path(__file__).parents[1] / "examples" / "scoring" / "plan.yaml"


def test_nightly_flow_scores_rules_model_and_stages_in_batches(cli_env: Path, engine: Engine) -> None:
    from flows.scoring import SCHEDULES, nightly_scoring, weekly_retrain

    clock.freeze(NOW)
    with session_scope(engine) as session:
        build_company(session, contacts=700, now=NOW, seed=11)
    without_model = nightly_scoring(plan_path=str(PLAN), batch_size=250)
    assert without_model["batches"] == 3 and without_model["predicted"] == 0
    assert without_model["scores_changed"] > 0 and without_model["stages_moved"] > 0
    with session_scope(engine) as session:
        train_model(session, Target(), secret="test-secret-key", folds=3)
    with_model = nightly_scoring(plan_path=str(PLAN), batch_size=250)
    assert with_model["predicted"] == 700 and with_model["scores_changed"] == 0  # same moment: no score moved
    with session_scope(engine) as session:
        graded = session.scalar(select(func.count()).where(Contact.grade.is_not(None)))
        moves = session.scalar(select(func.count()).where(Event.type == "stage.changed"))
    assert graded == 700 and moves == without_model["stages_moved"]
    assert {flow for flow, _ in SCHEDULES} == {nightly_scoring, weekly_retrain}


def test_weekly_retrain_keeps_the_active_target_and_a_better_model(cli_env: Path, engine: Engine) -> None:
    from flows.scoring import weekly_retrain

    clock.freeze(NOW)
    with session_scope(engine) as session:
        build_company(session, contacts=900, now=NOW, seed=12)
        first = train_model(session, Target(horizon_days=80, conversion_kind="purchase"), secret="test-secret-key",
                            folds=3, exclude=("employees", "source"))
    assert first.activated
    retrained = weekly_retrain(folds=3)
    assert retrained["activated"] is True and retrained["version"] == 2
    assert (retrained["target"]["horizon_days"], retrained["target"]["conversion_kind"]) == (80, "purchase")
    with session_scope(engine) as session:  # the operator's exclusions still hold
        features = session.scalar(select(ScoringModel.params).where(ScoringModel.version == 2))["features"]
    assert "employees" not in features["numeric_attributes"] and "source" not in features["contact_categoricals"]
    assert features["skipped"]["employees"] == features["skipped"]["source"] == "excluded by configuration"
    with session_scope(engine) as session:  # pretend the active model was evaluated far better
        session.execute(update(ScoringModel).where(ScoringModel.version == 2).values(metrics={"roc_auc": 0.999}))
    # the flows sign and check artefacts with RELANCE_SECRET_KEY, which cli_env sets to "test-secret-key"
    kept = weekly_retrain(folds=3)
    assert kept["activated"] is False and kept["decision"].startswith("kept v2")
    with session_scope(engine) as session:
        active = session.scalar(select(ScoringModel.version).where(ScoringModel.active.is_(True)))
    assert active == 2
