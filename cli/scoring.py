"""`relance score` commands: rule scoring, lifecycle stages, predictive model training, evaluation and scoring."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table
from sqlalchemy import func, or_, select

from cli.common import console, engine, fail, print_json, progress, settings
from core.db import session_scope
from core.models import Contact
from scoring.plan import PlanError, ScoringPlan, load_plan

if TYPE_CHECKING:
    from scoring.target import Target

# The scoring modules (pandas, scikit-learn, matplotlib) load only in the commands that use them: `relance --help`
# and every other command start without them.

app = typer.Typer(help="Rule and predictive lead scoring.", no_args_is_help=True)

PLAN_OPTION = typer.Option(Path("scoring-plan.yaml"), "--plan", help="YAML scoring plan (see examples/scoring).")
JSON_OPTION = typer.Option(False, "--json", help="Print a machine-readable summary.")
EXCLUDE_OPTION = typer.Option(
    [], "--exclude", help="Leave a feature out (repeatable): a custom attribute, account.ATTRIBUTE, a contact field "
    "(source, country...) or an event type — e.g. an attribute filled in only after the sale, which would leak.")
TARGET_HELP = "auto: conversions within --horizon days after a cutoff when the timeline allows it, else ever."


def _secret() -> str:
    """The key model artefacts are signed with (RELANCE_SECRET_KEY)."""
    return settings().secret_key.get_secret_value()


def _plan(path: Path) -> ScoringPlan:
    if not path.exists():
        raise fail(f"scoring plan {path} not found; start from examples/scoring/plan.yaml (--plan PATH)")
    try:
        return load_plan(path)
    except PlanError as exc:
        raise fail(str(exc)) from None


def _target(mode: str, horizon: int, kind: str | None, stage: str | None, cutoff: datetime | None) -> Target:
    from scoring.target import Target

    if mode not in ("auto", "window", "ever"):
        raise fail("--target must be auto, window or ever")
    return Target(mode=mode, horizon_days=horizon, conversion_kind=kind, stage=stage, cutoff=cutoff)


@app.command()
def rules(plan: Path = PLAN_OPTION, lifecycle: bool = typer.Option(True, help="Also apply the plan's stage "
          "thresholds."), batch_size: int = typer.Option(50_000, help="Contacts per batch."),
          as_json: bool = JSON_OPTION) -> None:
    """Apply the rule plan to every contact: fit, behaviour with decay and caps, negative points."""
    from scoring.lifecycle import advance_all
    from scoring.rules import score_all

    scoring_plan = _plan(plan)
    with session_scope(engine()) as session, progress(not as_json) as bar:
        task = bar.add_task("rule scoring", total=None)
        summary = score_all(session, scoring_plan, batch_size=batch_size, on_batch=lambda *_: bar.advance(task))
        if lifecycle:
            summary["lifecycle"] = advance_all(session, scoring_plan.lifecycle, batch_size=batch_size)
    if as_json:
        print_json(summary)
        return
    console.print(f"Plan [bold]{summary['plan']}[/]: {summary['changed']} score(s) changed "
                  f"({summary['batches']} batch(es)).")
    if lifecycle:
        _print_stages(summary["lifecycle"])


@app.command("lifecycle")
def lifecycle_command(plan: Path = PLAN_OPTION, as_json: bool = JSON_OPTION) -> None:
    """Move contacts forward through subscriber → lead → mql → sql (customer on conversion)."""
    from scoring.lifecycle import advance_all

    scoring_plan = _plan(plan)
    with session_scope(engine()) as session:
        summary = advance_all(session, scoring_plan.lifecycle)
    if as_json:
        print_json(summary)
    else:
        _print_stages(summary)


def _print_stages(summary: dict[str, Any]) -> None:
    table = Table(title=f"Lifecycle stages ({summary['moved']} moved forward)")
    table.add_column("stage")
    table.add_column("contacts", justify="right")
    for stage, count in sorted(summary["stages"].items(), key=lambda item: -item[1]):
        table.add_row(stage, str(count))
    console.print(table)


@app.command()
def evaluate(
    cv: int = typer.Option(5, "--cv", help="Outer cross-validation folds."),
    target: str = typer.Option("auto", help=TARGET_HELP), horizon: int = typer.Option(90, help="Days after cutoff."),
    kind: str | None = typer.Option(None, help="Only conversions of this kind count."),
    stage: str | None = typer.Option(None, help="Predict reaching this lifecycle stage instead."),
    cutoff: datetime | None = typer.Option(None, help="Cutoff date (default: today minus --horizon)."),
    chart: Path | None = typer.Option(None, help="Save a lift chart PNG here."),
    exclude: list[str] = EXCLUDE_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Out-of-fold evaluation of the whole pipeline: ROC AUC, PR AUC, Brier, lift, capture, calibration."""
    from scoring.evaluate import lift_chart
    from scoring.predict import evaluate_model
    from scoring.target import NotEnoughData

    spec = _target(target, horizon, kind, stage, cutoff)
    with session_scope(engine()) as session, progress(not as_json) as bar:
        task = bar.add_task("cross-validating", total=cv)
        try:
            evaluation, resolved, features = evaluate_model(session, spec, folds=cv, exclude=tuple(exclude),
                                                            on_fold=lambda _: bar.advance(task))
        except NotEnoughData as exc:
            raise fail(str(exc)) from None
    metrics = evaluation.metrics()
    if chart:
        lift_chart(metrics, chart)
    if as_json:
        print_json({"target": resolved.to_json(), "features": features, "metrics": metrics,
                    "chart": str(chart) if chart else None})
        return
    console.print(f"Target: [bold]{resolved.describe()}[/]")
    print_metrics(metrics)


def print_metrics(metrics: dict[str, Any]) -> None:
    """The evaluation as Rich tables (shared with the demo)."""
    from scoring.evaluate import capture_at

    console.print(
        f"ROC AUC [bold]{metrics['roc_auc']:.3f}[/] · PR AUC {metrics['pr_auc']:.3f} (base rate "
        f"{metrics['base_rate']:.1%}) · Brier {metrics['brier']:.4f} (skill {metrics['brier_skill']:+.1%}) · "
        f"top 20 % captures [bold]{capture_at(metrics, 0.2):.0%}[/] of converters · chosen: {metrics['chosen']} "
        f"({', '.join(f'{k} {v:.3f}' for k, v in metrics['candidates_auc'].items())})"
    )
    for warning in metrics.get("warnings", []):
        console.print(f"[yellow]Possible leakage: {warning}[/]")
    table = Table(title="Lift and capture by decile (out-of-fold)")
    for column in ("decile", "contacts", "converters", "rate", "lift", "capture"):
        table.add_column(column, justify="right")
    for row in metrics["deciles"]:
        table.add_row(str(row["decile"]), str(row["contacts"]), str(row["converters"]), f"{row['rate']:.1%}",
                      f"{row['lift']:.2f}", f"{row['capture']:.0%}")
    console.print(table)
    calibration = Table(title="Calibration (predicted vs observed, equal-size bins)")
    for column in ("contacts", "predicted", "observed"):
        calibration.add_column(column, justify="right")
    for row in metrics["calibration"]:
        calibration.add_row(str(row["contacts"]), f"{row['predicted']:.1%}", f"{row['observed']:.1%}")
    console.print(calibration)


@app.command()
def train(
    cv: int = typer.Option(5, "--cv", help="Cross-validation folds."),
    target: str = typer.Option("auto", help=TARGET_HELP), horizon: int = typer.Option(90, help="Days after cutoff."),
    kind: str | None = typer.Option(None, help="Only conversions of this kind count."),
    stage: str | None = typer.Option(None, help="Predict reaching this lifecycle stage instead."),
    cutoff: datetime | None = typer.Option(None, help="Cutoff date (default: today minus --horizon)."),
    if_better: bool = typer.Option(False, "--if-better", help="Activate only if it beats the active model."),
    exclude: list[str] = EXCLUDE_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Train, evaluate out-of-fold and store a new model version (activated unless --if-better says no)."""
    from scoring.evaluate import capture_at
    from scoring.predict import train_model
    from scoring.target import NotEnoughData

    spec = _target(target, horizon, kind, stage, cutoff)
    with session_scope(engine()) as session, progress(not as_json) as bar:
        task = bar.add_task("training", total=cv)
        try:
            result = train_model(session, spec, secret=_secret(), folds=cv, exclude=tuple(exclude),
                                 policy="if-better" if if_better else "always",
                                 on_fold=lambda _: bar.advance(task))
        except NotEnoughData as exc:
            raise fail(str(exc)) from None
    if as_json:
        print_json(result.to_json())
        return
    metrics = result.metrics
    console.print(f"Model [bold]v{result.version}[/] ({metrics['chosen']}): {result.decision}. "
                  f"ROC AUC {metrics['roc_auc']:.3f}, top 20 % captures {capture_at(metrics, 0.2):.0%}.")


@app.command()
def apply(batch_size: int = typer.Option(50_000, help="Contacts per batch."), as_json: bool = JSON_OPTION) -> None:
    """Score every contact with the active model: probability, grade A–D and the top three reasons."""
    from scoring.predict import apply_model
    from scoring.registry import ArtefactRefused, NoModel

    with session_scope(engine()) as session, progress(not as_json) as bar:
        live = select(func.count()).select_from(Contact).where(Contact.erased_at.is_(None))
        task = bar.add_task("scoring contacts", total=session.scalar(live))
        try:
            summary = apply_model(session, secret=_secret(), batch_size=batch_size,
                                  on_batch=lambda n: bar.advance(task, n))
        except (NoModel, ArtefactRefused) as exc:
            raise fail(str(exc)) from None
    if as_json:
        print_json(summary)
    else:
        console.print(f"Scored [bold]{summary['scored']}[/] contacts with model v{summary['version']}.")


def _find_contact(session: Any, reference: str) -> int:
    conditions = [Contact.email == reference.strip().lower(), Contact.external_id == reference]
    if reference.isdigit():
        conditions.append(Contact.id == int(reference))
    found = session.scalar(select(Contact.id).where(or_(*conditions)).limit(1))
    if found is None:
        raise fail(f"no contact with id, email or external id {reference!r}")
    return int(found)


@app.command()
def explain(
    contact: str = typer.Argument(..., help="Contact id, email or external id."),
    plan: Path | None = typer.Option(None, "--plan", help="Also break down the rule score with this plan."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Why a contact scores what it does: the model's reasons and, with --plan, each rule's points."""
    from scoring.predict import explain_contact
    from scoring.registry import ArtefactRefused, NoModel
    from scoring.rules import explain_rules

    with session_scope(engine()) as session:
        contact_id = _find_contact(session, contact)
        result: dict[str, Any] = {"contact_id": contact_id}
        try:
            result["model"] = explain_contact(session, contact_id, secret=_secret())
        except (NoModel, ArtefactRefused) as exc:
            result["model"] = {"error": str(exc)}
        if plan is not None:
            result["rules"] = explain_rules(session, _plan(plan), contact_id)
    if as_json:
        print_json(result)
        return
    _print_explanation(result)


def _print_explanation(result: dict[str, Any]) -> None:
    model = result["model"]
    if "error" in model:
        console.print(f"[yellow]{model['error']}[/]")
    else:
        console.print(f"Contact {result['contact_id']}: [bold]{model['probability']:.1%}[/] chance to convert, "
                      f"grade [bold]{model['grade']}[/] (average {model['base_rate']:.1%}, model "
                      f"v{model['model_version']}).")
        for reason in model["reasons"]:
            arrow = "[green]▲[/]" if reason["impact"] > 0 else "[red]▼[/]"
            console.print(f"  {arrow} {reason['reason']}  ({reason['impact']:+.2f})")
    if "rules" in result:
        console.print(f"Rule score {result['rules']['stored_score']} (now {result['rules']['total']:g}):")
        for rule in result["rules"]["rules"]:
            console.print(f"  {rule['points']:+g}  {rule['rule']}")


@app.command()
def models(as_json: bool = JSON_OPTION) -> None:
    """Every stored model version with its metrics."""
    from scoring.registry import list_models

    with session_scope(engine()) as session:
        rows: list[dict[str, Any]] = [
            {"version": row.version, "kind": row.kind, "active": row.active, "created_at": row.created_at,
                 "roc_auc": row.metrics.get("roc_auc"), "sklearn_version": row.sklearn_version,
                 "sha256": row.sha256, "decision": row.params.get("decision")}
            for row in list_models(session)
        ]
    if as_json:
        print_json(rows)
        return
    table = Table(title="Scoring models")
    for column in ("version", "kind", "active", "ROC AUC", "created", "decision"):
        table.add_column(column)
    for row in rows:
        auc = f"{row['roc_auc']:.3f}" if row["roc_auc"] is not None else "—"
        table.add_row(str(row["version"]), row["kind"], "✓" if row["active"] else "", auc,
                      row["created_at"].strftime("%Y-%m-%d %H:%M"), str(row["decision"] or ""))
    console.print(table)
