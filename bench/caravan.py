"""Quality bench: the CoIL 2000 Caravan data through `relance import` + `relance score evaluate --cv 5`.

Needs the ISLP package for its bundled CSV only (`.venv/bin/pip install --no-deps islp`; not a project
dependency). Prints our out-of-fold ROC AUC and top-20 % capture next to a plain standardised logistic
regression measured on the same rows in the same run.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import date
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

ROOT = Path(__file__).resolve().parents[1]
RELANCE = str(Path(sys.executable).with_name("relance"))


def caravan_csv() -> Path:
    try:
        import ISLP
    except ImportError:
        sys.exit("ISLP is not installed: run `.venv/bin/pip install --no-deps islp` (bench only)")
    return Path(ISLP.__file__).parent / "data" / "Caravan.csv"


def baseline(frame: pd.DataFrame, y: np.ndarray) -> np.ndarray:
    """Out-of-fold probabilities of a plain standardised logistic regression (the reference, ≈0.74)."""
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000))
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)
    return cross_val_predict(model, frame.to_numpy(dtype=float), y, cv=folds, method="predict_proba")[:, 1]


def write_csvs(frame: pd.DataFrame, y: np.ndarray, folder: Path) -> tuple[Path, Path]:
    contacts, conversions = folder / "caravan-contacts.csv", folder / "caravan-conversions.csv"
    people = frame.copy()
    people.insert(0, "email", [f"customer{number}@caravan.example" for number in range(len(frame))])
    people.insert(1, "external_id", [f"caravan-{number}" for number in range(len(frame))])
    people.to_csv(contacts, index=False)
    with conversions.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["email", "amount", "currency", "kind", "external_ref", "occurred_at"])
        today = date.today().isoformat()  # a snapshot: the data has no dates, so `evaluate` uses "ever converted"
        for number in np.flatnonzero(y):
            writer.writerow([f"customer{number}@caravan.example", "1.00", "EUR", "caravan-policy",
                             f"caravan-policy-{number}", today])
    return contacts, conversions


def relance(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([RELANCE, *args], env=env, capture_output=True, text=True, check=False)


def load_through_cli(contacts: Path, conversions: Path, env: dict[str, str]) -> str:
    """The real import commands; falls back to the models (and says so) when they are not available yet."""
    imported = relance("import", "contacts", str(contacts), env=env)
    if imported.returncode == 0:
        converted = relance("import", "conversions", str(conversions), env=env)
        if converted.returncode != 0:
            sys.exit(f"relance import conversions failed:\n{converted.stderr[-2000:]}")
        return "relance import contacts + relance import conversions"
    load_through_models(contacts, conversions, env["RELANCE_DATABASE_URL"])
    words = " ".join(line.strip("│╭╮╰╯─ ") for line in imported.stderr.splitlines()).split()
    return f"the models directly (`relance import contacts` failed: {' '.join(words)[:120]})"


def load_through_models(contacts: Path, conversions: Path, url: str) -> None:
    from datetime import UTC, datetime

    from sqlalchemy import insert, select

    from core.db import make_engine, session_scope
    from core.models import Contact, Conversion

    people = pd.read_csv(contacts)
    engine = make_engine(url)
    with session_scope(engine) as session:
        attributes = people.drop(columns=["email", "external_id"]).to_dict(orient="records")
        session.execute(insert(Contact), [
            {"email": email, "external_id": external, "attributes": {k: int(v) for k, v in attrs.items()}}
            for email, external, attrs in zip(people["email"], people["external_id"], attributes, strict=True)
        ])
        ids = dict(session.execute(select(Contact.email, Contact.id)).all())
        sales = pd.read_csv(conversions)
        session.execute(insert(Conversion), [
            {"contact_id": ids[row.email], "amount": Decimal(str(row.amount)), "currency": row.currency,
             "kind": row.kind, "external_ref": row.external_ref, "occurred_at": datetime.now(UTC)}
            for row in sales.itertuples()
        ])


def capture_top(y: np.ndarray, probabilities: np.ndarray, share: float = 0.2) -> float:
    top = np.argsort(-probabilities, kind="stable")[: int(round(share * len(y)))]
    return float(y[top].sum() / y.sum())


def main() -> None:
    from sklearn.metrics import roc_auc_score

    raw = pd.read_csv(caravan_csv())
    y = (raw.pop("Purchase") == "Yes").to_numpy(dtype=int)
    started = time.perf_counter()
    reference = baseline(raw, y)
    baseline_seconds = time.perf_counter() - started
    with tempfile.TemporaryDirectory(prefix="relance-caravan-") as folder:
        contacts, conversions = write_csvs(raw, y, Path(folder))
        env = dict(os.environ, RELANCE_DATABASE_URL=f"sqlite:///{folder}/caravan.db")
        relance("init", env=env)
        started = time.perf_counter()
        loaded_by = load_through_cli(contacts, conversions, env)
        load_seconds = time.perf_counter() - started
        started = time.perf_counter()
        evaluated = relance("score", "evaluate", "--cv", "5", "--json", env=env)
        evaluate_seconds = time.perf_counter() - started
        if evaluated.returncode != 0:
            sys.exit(f"relance score evaluate failed:\n{evaluated.stderr[-2000:]}")
    result = json.loads(evaluated.stdout)
    metrics = result["metrics"]
    ours_capture = metrics["deciles"][1]["capture"]
    print(f"Caravan (CoIL 2000): {len(y)} customers, {y.sum()} buyers ({y.mean():.1%}); loaded via {loaded_by} "
          f"in {load_seconds:.1f} s; target: {result['target']['mode']}")
    print(f"  plain standardised logistic regression : ROC AUC {roc_auc_score(y, reference):.3f}, "
          f"top 20 % captures {capture_top(y, reference):.1%}  ({baseline_seconds:.1f} s)")
    print(f"  relance score evaluate --cv 5          : ROC AUC {metrics['roc_auc']:.3f}, "
          f"top 20 % captures {ours_capture:.1%}, PR AUC {metrics['pr_auc']:.3f}, Brier {metrics['brier']:.4f} "
          f"({evaluate_seconds:.1f} s; chosen per fold: {', '.join(metrics['fold_choices'])})")
    print(f"  ratio ROC AUC ours / baseline: {metrics['roc_auc'] / roc_auc_score(y, reference):.3f}")


if __name__ == "__main__":
    main()
