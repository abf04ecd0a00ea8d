"""Demo step: rule scoring and stages, an honestly evaluated model with a lift chart, the ten hottest leads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.table import Table
from sqlalchemy import func, select

from cli.demo.context import EXAMPLES as DEMO_EXAMPLES
from cli.demo.context import DemoContext
from cli.demo.synthetic_company import build_company
from core import clock
from core.db import session_scope
from core.models import Contact
from scoring.evaluate import capture_at, lift_chart
from scoring.lifecycle import advance_all
from scoring.plan import load_plan
from scoring.predict import apply_model, train_model
from scoring.rules import score_all
from scoring.target import NotEnoughData, Target

PLAN = DEMO_EXAMPLES / "scoring" / "plan.yaml"


def run(context: DemoContext) -> None:
    """Score the demo company (rules + model), show the evaluation and the hottest leads."""
    console = context.console
    console.rule("[bold]Lead scoring")
    plan = load_plan(PLAN)
    secret = context.settings.secret_key.get_secret_value()
    with session_scope(context.engine) as session:
        if not session.scalar(select(func.count()).select_from(Contact)):
            console.print("No demo company yet: generating 2,000 synthetic leads with a known signal.")
            build_company(session, contacts=2000, now=clock.now(), seed=context.seed)
        rules = score_all(session, plan)
        stages = advance_all(session, plan.lifecycle)
        console.print(f"Rule plan [bold]{plan.name}[/]: {rules['changed']} scores changed; "
                      f"{stages['moved']} contacts moved forward: {stages['stages']}")
        try:
            trained = train_model(session, Target(), secret=secret, folds=3, seed=context.seed)
        except NotEnoughData as exc:
            console.print(f"[yellow]No predictive model: {exc}[/]")
            return
        session.commit()
        apply_model(session, secret=secret)
        chart = lift_chart(trained.metrics, context.workdir / "scoring-lift.png")
        _show_evaluation(context, trained.metrics, trained.target, chart)
        _show_hottest(context, session)


def _show_evaluation(context: DemoContext, metrics: dict[str, Any], target: dict[str, Any], chart: Path) -> None:
    context.console.print(
        f"Model [bold]{metrics['chosen']}[/] — target {target['mode']} ({target['horizon_days']} days); "
        f"out-of-fold ROC AUC [bold]{metrics['roc_auc']:.3f}[/], PR AUC {metrics['pr_auc']:.3f} "
        f"(base rate {metrics['base_rate']:.1%}), Brier {metrics['brier']:.4f}; "
        f"top 20 % captures [bold]{capture_at(metrics, 0.2):.0%}[/] of converters. Lift chart: {chart}"
    )
    for warning in metrics.get("warnings", []):
        context.console.print(f"[yellow]Possible leakage: {warning}[/]")
    table = Table(title="Lift by decile (out-of-fold)")
    for column in ("decile", "rate", "lift", "capture"):
        table.add_column(column, justify="right")
    for row in metrics["deciles"]:
        table.add_row(str(row["decile"]), f"{row['rate']:.1%}", f"{row['lift']:.2f}", f"{row['capture']:.0%}")
    context.console.print(table)


def _show_hottest(context: DemoContext, session: Any) -> None:
    query = (
        select(Contact)
        .where(Contact.erased_at.is_(None), Contact.lifecycle_stage != "customer")
        .order_by(Contact.predicted_score.desc(), Contact.score.desc())
        .limit(10)
    )
    table = Table(title="Ten hottest leads")
    for column in ("contact", "stage", "rule score", "probability", "grade", "why"):
        table.add_column(column)
    for contact in session.scalars(query):
        reasons = "; ".join(reason["reason"] for reason in contact.score_reasons or [])
        table.add_row(contact.email or str(contact.id), contact.lifecycle_stage, str(contact.score),
                      f"{(contact.predicted_score or 0):.1%}", contact.grade or "", reasons)
    context.console.print(table)
