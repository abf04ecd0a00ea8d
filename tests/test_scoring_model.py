"""Predictive scoring: no leakage, a known signal learnt and calibrated, registry checks, apply, explain, CLI."""

from __future__ import annotations

import hashlib
import json
import pickle
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session

from cli.demo.synthetic_company import build_company
from contacts.timeline import NewEvent, record_events
from core import clock
from core.models import Account, Contact, Conversion, ScoringModel
from scoring.evaluate import capture_at, cross_validate, lift_chart
from scoring.features import NEVER_DAYS, discover_features, features_as_of
from scoring.predict import apply_model, explain_contact, train_model
from scoring.reasons import describe, family, top_reasons, top_reasons_json
from scoring.registry import ArtefactRefused, load_model
from scoring.target import NotEnoughData, Target, training_data
from tests.helpers import make_contact, run_cli, run_cli_json

NOW = datetime(2026, 6, 1, tzinfo=UTC)
SECRET = "model-signing-test-secret"
CUTOFF = NOW - timedelta(days=90)


def _event(session: Session, contact: Contact, event_type: str, at: datetime, **properties: object) -> None:
    record_events(session, [NewEvent(type=event_type, dedupe_key=f"{event_type}:{contact.id}:{at.isoformat()}",
                                     contact_id=contact.id, occurred_at=at, properties=dict(properties))])


def test_features_as_of_cutoff_ignore_the_future(session: Session) -> None:
    clock.freeze(NOW)
    old = NOW - timedelta(days=400)
    contact = make_contact(session, email="a@example.com", created_at=old, lifecycle_stage="customer",
                           attributes={"industry": "software"})
    other = make_contact(session, email="b@example.com", created_at=old, attributes={"industry": "retail"})
    _event(session, contact, "email.clicked", CUTOFF - timedelta(days=10))
    _event(session, contact, "email.clicked", CUTOFF + timedelta(days=5))  # future
    _event(session, contact, "email.opened", CUTOFF + timedelta(days=6))  # future only
    _event(session, other, "email.opened", CUTOFF - timedelta(days=1))
    _event(session, other, "email.clicked", CUTOFF - timedelta(days=300))
    _event(session, contact, "stage.changed", CUTOFF + timedelta(days=7), **{"from": "mql", "to": "customer"})
    session.add(Conversion(contact_id=contact.id, amount=Decimal(50), currency="EUR", external_ref="future",
                           occurred_at=CUTOFF + timedelta(days=8)))
    session.commit()
    spec = discover_features(session, snapshot=False, min_event_contacts=1)
    frame = features_as_of(session, spec, CUTOFF)
    row = frame.loc[contact.id]
    assert row["events:email.clicked:all"] == 1 and row["events:email.clicked:30d"] == 1
    assert row["events:email.clicked:7d"] == 0
    assert row["recency:email.clicked"] == pytest.approx(10)
    assert row["events:email.opened:all"] == 0 and row["recency:email.opened"] == NEVER_DAYS
    assert row["conversions:count"] == 0 and row["recency:conversion"] == NEVER_DAYS
    assert row["contact:lifecycle_stage"] == "mql"  # the stage it had at the cutoff, not today's
    assert row["contact:tenure_days"] == pytest.approx(310)
    today = features_as_of(session, spec, NOW).loc[contact.id]
    assert today["events:email.clicked:all"] == 2 and today["conversions:count"] == 1
    assert frame.loc[other.id, "events:email.clicked:365d"] == 1


def test_account_custom_fields_become_features_with_readable_reasons(session: Session) -> None:
    clock.freeze(NOW)
    accounts = [Account(name=f"Acme {n}", name_key=f"acme-{n}", size=10 * (n + 1),
                        attributes={"sector": ["retail", "saas", "bank"][n % 3], "revenue_meur": n * 1.5,
                                    "siren": f"{n:09d}"}) for n in range(60)]
    session.add_all(accounts)
    session.flush()
    for number, account in enumerate(accounts):
        make_contact(session, email=f"acct{number}@example.com", account_id=account.id, commit=False)
    make_contact(session, email="no-account@example.com", commit=False)
    session.commit()
    spec = discover_features(session, snapshot=True)
    assert spec.use_account and spec.account_categorical_attributes == ["sector"]
    assert spec.account_numeric_attributes == ["revenue_meur"] and "account.siren" in spec.skipped
    frame = features_as_of(session, spec, NOW)
    first = session.scalar(select(Contact.id).where(Contact.email == "acct1@example.com"))
    assert frame.loc[first, "acct:sector"] == "saas" and frame.loc[first, "acct:revenue_meur"] == 1.5
    assert frame["acct:sector"].isna().sum() == 1  # the contact without a company
    assert describe("acct:sector", "saas") == "company sector = saas"


def test_outcome_revealing_features_are_left_out_or_flagged(session: Session) -> None:
    clock.freeze(NOW)
    build_company(session, contacts=500, now=NOW, seed=9)
    buyers = set(session.scalars(select(Conversion.contact_id)))
    for contact in session.scalars(select(Contact)):  # what an import or the RFM step leaves behind
        won = contact.id in buyers
        contact.attributes = {**contact.attributes, "deal_won": "yes" if won else "no",
                              "rfm_segment": "champions" if won else "hibernating"}
        contact.lifecycle_stage = "customer" if won else "lead"
    session.commit()
    frame, y, spec, resolved = training_data(session, Target())
    assert resolved.mode == "window" and not spec.use_stage
    assert "customers whose stage was set without a history" in spec.skipped["lifecycle_stage"]
    assert "RFM" in spec.skipped["rfm_segment"] and "attr:rfm_segment" not in frame
    evaluation = cross_validate(spec, frame, y, folds=3)
    assert [warning.split(" ")[0] for warning in evaluation.warnings] == ["attr:deal_won"]
    assert evaluation.metrics()["warnings"] == evaluation.warnings


def test_snapshot_target_drops_outcome_revealing_features(session: Session) -> None:
    clock.freeze(NOW)
    for number in range(30):
        contact = make_contact(session, email=f"s{number}@example.com", attributes={"band": str(number % 3)})
        if number % 2:
            session.add(Conversion(contact_id=contact.id, amount=Decimal(1), currency="EUR", occurred_at=NOW,
                                   external_ref=f"snap-{number}"))
    session.commit()
    frame, y, spec, resolved = training_data(session, Target())
    assert resolved.mode == "ever" and y.sum() == 15
    assert not spec.use_conversions and not spec.use_stage
    assert not any(column.startswith("conversions:") for column in frame.columns)
    with pytest.raises(NotEnoughData, match="need at least"):
        training_data(session, Target(mode="window"))


def test_train_apply_explain_and_registry_checks(session: Session, tmp_path: Path) -> None:
    clock.freeze(NOW)
    build_company(session, contacts=1500, now=NOW, seed=3)
    result = train_model(session, Target(), secret=SECRET, folds=3)
    metrics = result.metrics
    assert result.activated and result.target["mode"] == "window"
    assert metrics["roc_auc"] > 0.72  # known signal; the leaked form.submitted would give ~1.0
    assert metrics["roc_auc"] < 0.95
    assert abs(float(np.mean([row["predicted"] for row in metrics["calibration"]])) - metrics["base_rate"]) < 0.03
    assert metrics["brier_skill"] > 0.03
    assert capture_at(metrics, 0.2) > 0.3
    assert lift_chart(metrics, tmp_path / "lift.png").stat().st_size > 5000

    clock.freeze(CUTOFF)  # synthetic engagement stops at the cutoff: score the world the model learnt from
    summary = apply_model(session, secret=SECRET, batch_size=400)
    assert summary["scored"] == 1500
    assert _rows_rewritten_by(session, lambda: apply_model(session, secret=SECRET, batch_size=400)) == 0
    session.execute(update(Contact).where(Contact.id == session.scalar(select(func.min(Contact.id))))
                    .values(grade="Z"))
    session.commit()
    assert _rows_rewritten_by(session, lambda: apply_model(session, secret=SECRET, batch_size=400)) == 1
    grades = dict(session.execute(select(Contact.grade, func.count()).group_by(Contact.grade)).all())
    assert set(grades) == {"A", "B", "C", "D"} and grades["A"] < grades["D"]
    top = session.scalars(select(Contact).order_by(Contact.predicted_score.desc()).limit(5)).all()
    assert all(0 < len(contact.score_reasons or []) <= 3 for contact in top)
    assert any("clicked" in reason["reason"] or "industry" in reason["reason"]
               for contact in top for reason in contact.score_reasons or [])
    _, trained = load_model(session, SECRET)
    frame = features_as_of(session, trained.spec, clock.now(), stage_as_of=False)
    contributions = trained.explainer.contributions(frame)
    fast = top_reasons_json(contributions, trained.explainer.features, frame)
    assert fast == [json.dumps(row, ensure_ascii=False)
                    for row in top_reasons(contributions, trained.explainer.features, frame)]
    assert all(len({family(reason["feature"]) for reason in row}) == len(row) for row in map(json.loads, fast))
    written = [json.loads(reasons) for reasons in fast]
    assert all(contact.score_reasons in written for contact in top)  # what apply_model stored
    explained = explain_contact(session, top[0].id, secret=SECRET)
    assert explained["grade"] == "A" and explained["probability"] == pytest.approx(top[0].predicted_score, abs=1e-5)

    clock.freeze(NOW)
    again = train_model(session, Target(), secret=SECRET, folds=3, policy="if-better")  # as good as v1: activated
    session.execute(update(ScoringModel).where(ScoringModel.version == 2).values(metrics={"roc_auc": 0.999}))
    worse = train_model(session, Target(), secret=SECRET, folds=3, policy="if-better")
    assert again.activated and not worse.activated and "kept v2" in worse.decision
    session.commit()

    row = session.scalar(select(ScoringModel).where(ScoringModel.active.is_(True)))
    assert row is not None
    original = row.artefact
    row.artefact = original[:-1] + bytes([original[-1] ^ 1])
    session.commit()
    with pytest.raises(ArtefactRefused, match="does not match"):
        load_model(session, SECRET)
    # Someone able to write the table replaces the pickle and its hash: the signature gives it away.
    forged = pickle.dumps(pickle.loads(original), protocol=5) + b"."
    row.artefact, row.sha256 = forged, hashlib.sha256(forged).hexdigest()
    session.commit()
    with pytest.raises(ArtefactRefused, match="not signed with this installation's secret key"):
        load_model(session, SECRET)
    row.artefact, row.sha256 = original, hashlib.sha256(original).hexdigest()
    session.commit()
    assert load_model(session, SECRET)[0].version == row.version
    with pytest.raises(ArtefactRefused, match="RELANCE_SECRET_KEY"):
        load_model(session, "another-installation")
    row.sklearn_version = "0.24.2"
    session.commit()
    with pytest.raises(ArtefactRefused, match="trained with scikit-learn 0.24.2"):
        load_model(session, SECRET)


def test_cli_json_outputs(cli_env: Path, engine: object) -> None:
    from core.db import session_scope

    clock.freeze(NOW)
    with session_scope(engine) as session:  # type: ignore[arg-type]
        build_company(session, contacts=600, now=NOW, seed=5)
        make_contact(session, email="vip@example.com", country="FR", created_at=NOW)
    plan = Path(__file__).parents[1] / "examples" / "scoring" / "plan.yaml"
    rules = run_cli_json("score", "rules", "--plan", str(plan))
    assert rules["changed"] >= 1 and "stages" in rules["lifecycle"]
    evaluation = run_cli_json("score", "evaluate", "--cv", "3", "--chart", str(cli_env / "lift.png"))
    assert evaluation["metrics"]["roc_auc"] > 0.6 and len(evaluation["metrics"]["deciles"]) == 10
    assert (cli_env / "lift.png").exists() and evaluation["target"]["mode"] == "window"
    without = run_cli_json("score", "evaluate", "--cv", "3", "--exclude", "industry", "--exclude", "email.clicked")
    assert without["features"]["skipped"]["industry"] == "excluded by configuration"
    assert "industry" not in without["features"]["categorical_attributes"]
    assert "email.clicked" not in without["features"]["event_types"]
    assert without["metrics"]["roc_auc"] < evaluation["metrics"]["roc_auc"]  # the two real signals are gone
    trained = run_cli_json("score", "train", "--cv", "3")
    assert trained["version"] == 1 and trained["activated"] is True
    assert run_cli_json("score", "apply")["scored"] == 601
    explained = run_cli_json("score", "explain", "vip@example.com", "--plan", str(plan))
    assert explained["model"]["grade"] in "ABCD" and explained["rules"]["stored_score"] == 10
    assert [row["version"] for row in run_cli_json("score", "models")] == [1]
    missing = run_cli("score", "explain", "nobody@example.com")
    assert missing.exit_code == 1 and "no contact" in missing.output
    bad = run_cli("score", "rules", "--plan", str(cli_env / "missing.yaml"))
    assert bad.exit_code == 1 and "not found" in " ".join(bad.output.split())
    assert json.loads(run_cli("score", "models", "--json").stdout)[0]["active"] is True


def _rows_rewritten_by(session: Session, run: Callable[[], object]) -> int:
    """Contact rows `run` updates, counted by a trigger (writes happen on other connections)."""
    connection = session.connection()
    connection.execute(text("CREATE TABLE test_rewrites (contact_id INTEGER)"))
    if connection.dialect.name == "sqlite":
        connection.execute(text("CREATE TRIGGER test_count_rewrites AFTER UPDATE ON contacts BEGIN "
                                "INSERT INTO test_rewrites VALUES (NEW.id); END"))
    else:
        connection.execute(text("CREATE FUNCTION test_count_rewrite() RETURNS trigger LANGUAGE plpgsql AS "
                                "'BEGIN INSERT INTO test_rewrites VALUES (NEW.id); RETURN NEW; END'"))
        connection.execute(text("CREATE TRIGGER test_count_rewrites AFTER UPDATE ON contacts FOR EACH ROW "
                                "EXECUTE FUNCTION test_count_rewrite()"))
    session.commit()
    try:
        run()
        return int(session.scalar(text("SELECT count(*) FROM test_rewrites")) or 0)
    finally:
        session.rollback()
        session.execute(text("DROP TRIGGER test_count_rewrites" + ("" if connection.dialect.name == "sqlite"
                                                                  else " ON contacts")))
        if connection.dialect.name != "sqlite":
            session.execute(text("DROP FUNCTION test_count_rewrite()"))
        session.execute(text("DROP TABLE test_rewrites"))
        session.commit()
