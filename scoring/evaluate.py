"""Honest evaluation: nested cross-validation, out-of-fold ROC/PR AUC, Brier, lift, capture, calibration."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline

from scoring.features import FeatureSpec
from scoring.model import CANDIDATES, calibrated, select_candidate


@dataclass
class Evaluation:
    """Out-of-fold predictions and the metrics computed from them (never from training rows)."""

    oof: np.ndarray
    y: np.ndarray
    chosen: str
    candidate_auc: dict[str, float]
    folds: int
    fold_choices: list[str] = field(default_factory=list)

    warnings: list[str] = field(default_factory=list)

    def metrics(self) -> dict[str, Any]:
        return summarise(self.y, self.oof) | {
            "chosen": self.chosen, "candidates_auc": self.candidate_auc, "folds": self.folds,
            "fold_choices": self.fold_choices, "warnings": self.warnings,
        }


def leakage_warnings(X: pd.DataFrame, y: np.ndarray, *, threshold: float = 0.97) -> list[str]:
    """Features that separate converters almost perfectly on their own: usually known only after the outcome."""
    warnings = []
    for column in X.columns:
        values = X[column]
        if values.dtype == object:  # a category scores its own conversion rate (in-sample: this is a smell test)
            key = values.fillna("(missing)")
            score = key.map(pd.Series(y, index=X.index).groupby(key).mean()).to_numpy(dtype="float64")
        else:
            score = values.fillna(values.median()).to_numpy(dtype="float64")
        if np.unique(score).size < 2:
            continue
        auc = float(roc_auc_score(y, score))
        if max(auc, 1 - auc) >= threshold:
            warnings.append(f"{column} alone separates converters (ROC AUC {max(auc, 1 - auc):.3f}): is it known "
                            f"only after the outcome? Leave it out with --exclude if so.")
    return warnings


def cross_validate(
    spec: FeatureSpec, X: pd.DataFrame, y: np.ndarray, *, folds: int = 5, seed: int = 0,
    candidates: dict[str, Callable[[FeatureSpec], Pipeline]] | None = None,
    on_fold: Callable[[int], None] | None = None,
) -> Evaluation:
    """Nested CV: in each outer fold the candidate is chosen on the training part only, calibrated, then scored."""
    folds = max(2, min(folds, int(y.sum()), int(len(y) - y.sum())))
    outer = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    oof = np.zeros(len(y), dtype="float64")
    choices: list[str] = []
    auc_by_candidate: dict[str, list[float]] = {}
    for number, (train, test) in enumerate(outer.split(X, y), start=1):
        best, scores = select_candidate(spec, X.iloc[train], y[train], seed=seed, candidates=candidates)
        for name, score in scores.items():
            auc_by_candidate.setdefault(name, []).append(score)
        choices.append(best)
        pipeline = (candidates or CANDIDATES)[best](spec)
        model = calibrated(pipeline, int(y[train].sum()), seed=seed).fit(X.iloc[train], y[train])
        oof[test] = model.predict_proba(X.iloc[test])[:, 1]
        if on_fold:
            on_fold(number)
    candidate_auc = {name: float(np.mean(values)) for name, values in auc_by_candidate.items()}
    chosen = Counter(choices).most_common(1)[0][0]
    return Evaluation(oof, y, chosen, candidate_auc, folds, choices, leakage_warnings(X, y))


def summarise(y: np.ndarray, probabilities: np.ndarray) -> dict[str, Any]:
    """ROC AUC, PR AUC, Brier (and its skill against always predicting the base rate), deciles, calibration."""
    base_rate = float(y.mean())
    brier = float(brier_score_loss(y, probabilities))
    reference = base_rate * (1 - base_rate)
    return {
        "rows": len(y), "positives": int(y.sum()), "base_rate": base_rate,
        "roc_auc": float(roc_auc_score(y, probabilities)),
        "pr_auc": float(average_precision_score(y, probabilities)),
        "brier": brier, "brier_skill": float(1 - brier / reference) if reference else 0.0,
        "deciles": deciles(y, probabilities), "calibration": calibration_table(y, probabilities),
    }


def deciles(y: np.ndarray, probabilities: np.ndarray) -> list[dict[str, Any]]:
    """Contacts ranked by score, cut in tenths: rate, lift over the base rate, cumulative capture of converters."""
    order = np.argsort(-probabilities, kind="stable")
    ranked = y[order]
    total, base = max(int(y.sum()), 1), max(float(y.mean()), 1e-12)
    rows, found = [], 0
    for tenth, part in enumerate(np.array_split(ranked, 10), start=1):
        found += int(part.sum())
        rate = float(part.mean()) if len(part) else 0.0
        rows.append({
            "decile": tenth, "contacts": len(part), "converters": int(part.sum()), "rate": rate,
            "lift": rate / base, "capture": found / total,
        })
    return rows


def calibration_table(y: np.ndarray, probabilities: np.ndarray, bins: int = 10) -> list[dict[str, Any]]:
    """Predicted vs observed conversion rate in bins of equal size (by predicted probability)."""
    order = np.argsort(probabilities, kind="stable")
    rows = []
    for part in np.array_split(order, bins):
        if len(part):
            rows.append({
                "contacts": len(part), "predicted": float(probabilities[part].mean()),
                "observed": float(y[part].mean()), "low": float(probabilities[part].min()),
                "high": float(probabilities[part].max()),
            })
    return rows


def capture_at(metrics: dict[str, Any], share: float) -> float:
    """Share of all converters found in the top `share` of contacts (0.2 → top 20 %)."""
    tenths = max(1, round(share * 10))
    return float(metrics["deciles"][tenths - 1]["capture"])


def lift_chart(metrics: dict[str, Any], path: Path, *, title: str = "Lift by decile") -> Path:
    """A PNG with lift per decile (bars) and cumulative capture (line)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = metrics["deciles"]
    figure, left = plt.subplots(figsize=(8, 4.5))
    tenths = [row["decile"] for row in rows]
    left.bar(tenths, [row["lift"] for row in rows], color="#3b7dd8", label="lift")
    left.axhline(1.0, color="grey", linewidth=0.8, linestyle="--")
    left.set_xlabel("decile (1 = highest score)")
    left.set_ylabel("lift over average")
    right = left.twinx()
    right.plot(tenths, [row["capture"] * 100 for row in rows], color="#d8553b", marker="o", label="capture %")
    right.set_ylabel("converters captured (cumulative %)")
    right.set_ylim(0, 105)
    left.set_title(f"{title} — ROC AUC {metrics['roc_auc']:.3f}, out-of-fold")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
