"""Candidate models (scikit-learn pipelines), selection by cross-validated ROC AUC, calibration, explainer."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import ClassifierMixin, clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, OrdinalEncoder, StandardScaler

from scoring.features import FeatureSpec

SKEWED_PREFIXES = ("events:", "conversions:", "recency:", "contact:tenure_days", "account:size")
GRADE_SHARES = {"A": 0.10, "B": 0.20, "C": 0.30}  # top 10 % A, next 20 % B, next 30 % C, the rest D


def _signed_log1p(values: Any) -> Any:
    return np.sign(values) * np.log1p(np.abs(values))


def linear_preprocessor(spec: FeatureSpec) -> ColumnTransformer:
    """Impute, log-compress counts, standardise numbers and one-hot encode categories (for linear models)."""
    skewed = [column for column in spec.numeric_columns if column.startswith(SKEWED_PREFIXES)]
    plain = [column for column in spec.numeric_columns if column not in skewed]
    categorical = make_pipeline(
        SimpleImputer(strategy="constant", fill_value="(missing)"),
        OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=5, max_categories=25,
                      sparse_output=False),
    )
    numeric = make_pipeline(SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
                            StandardScaler())
    counts = make_pipeline(SimpleImputer(strategy="median", keep_empty_features=True),
                           FunctionTransformer(_signed_log1p, feature_names_out="one-to-one"), StandardScaler())
    parts: list[tuple[str, Any, list[str]]] = [("cat", categorical, spec.categorical_columns),
                                               ("num", numeric, plain), ("cnt", counts, skewed)]
    return ColumnTransformer([part for part in parts if part[2]], verbose_feature_names_out=True)


def tree_preprocessor(spec: FeatureSpec) -> ColumnTransformer:
    """Ordinal-encode categories (unknown and missing become -1, which the trees treat as missing)."""
    categorical = make_pipeline(
        SimpleImputer(strategy="constant", fill_value="(missing)"),
        OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1, encoded_missing_value=-1,
                       min_frequency=5, max_categories=60),
    )
    parts: list[tuple[str, Any, list[str]]] = [("cat", categorical, spec.categorical_columns),
                                               ("num", "passthrough", spec.numeric_columns)]
    return ColumnTransformer([part for part in parts if part[2]], verbose_feature_names_out=True)


def _logistic(spec: FeatureSpec, strength: float) -> Pipeline:
    model = LogisticRegression(C=strength, max_iter=3000)
    return Pipeline([("prepare", linear_preprocessor(spec)), ("model", model)])


def _gbm(spec: FeatureSpec) -> Pipeline:
    categorical = [True] * len(spec.categorical_columns) + [False] * len(spec.numeric_columns)
    model = HistGradientBoostingClassifier(
        learning_rate=0.02, max_iter=300, max_leaf_nodes=4, min_samples_leaf=100, l2_regularization=1.0,
        max_features=0.5, early_stopping=False, class_weight="balanced", random_state=0,
        categorical_features=categorical if spec.categorical_columns else None,
    )
    return Pipeline([("prepare", tree_preprocessor(spec)), ("model", model)])


CANDIDATES: dict[str, Callable[[FeatureSpec], Pipeline]] = {
    "logistic-l2-c0.01": lambda spec: _logistic(spec, 0.01),
    "logistic-l2-c0.3": lambda spec: _logistic(spec, 0.3),
    "gradient-boosting": _gbm,
}


def select_candidate(
    spec: FeatureSpec, X: pd.DataFrame, y: np.ndarray, *, folds: int = 3, seed: int = 0,
    candidates: dict[str, Callable[[FeatureSpec], Pipeline]] | None = None,
) -> tuple[str, dict[str, float]]:
    """The candidate with the best cross-validated ROC AUC on (X, y), and every candidate's AUC."""
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    scores: dict[str, float] = {}
    for name, build in (candidates or CANDIDATES).items():
        scores[name] = float(np.mean(cross_val_score(build(spec), X, y, cv=splitter, scoring="roc_auc")))
    best = max(scores, key=lambda name: scores[name])
    return best, scores


def calibrated(pipeline: Pipeline, positives: int, *, seed: int = 0) -> CalibratedClassifierCV:
    """Probability calibration on held-out folds (isotonic with plenty of positives, else sigmoid).

    The calibrator is fitted on unweighted out-of-fold predictions, so the class weighting the trees use
    to see the rare converters does not leak into the probabilities.
    """
    method = "isotonic" if positives >= 1000 else "sigmoid"
    splitter = StratifiedKFold(n_splits=3, shuffle=True, random_state=seed)
    return CalibratedClassifierCV(clone(pipeline), method=method, cv=splitter, ensemble=False)


@dataclass
class Explainer:
    """Per-feature contributions: a linear model over standardised features (the model's own, or a surrogate)."""

    preprocessor: ColumnTransformer
    coef: np.ndarray
    center: np.ndarray
    sources: list[str]  # source feature of each transformed column
    features: list[str] = field(default_factory=list)

    def contributions(self, X: pd.DataFrame) -> np.ndarray:
        """(rows × features) contribution of each source feature to the log-odds, against the population."""
        transformed = np.asarray(self.preprocessor.transform(X), dtype="float64")
        weighted = (transformed - self.center) * self.coef
        mapping = np.zeros((len(self.sources), len(self.features)))
        index = {name: position for position, name in enumerate(self.features)}
        for column, source in enumerate(self.sources):
            mapping[column, index[source]] = 1.0
        return weighted @ mapping


def _sources(preprocessor: ColumnTransformer, spec: FeatureSpec) -> list[str]:
    known = sorted(spec.categorical_columns + spec.numeric_columns, key=len, reverse=True)
    sources = []
    for name in preprocessor.get_feature_names_out():
        _, _, rest = name.partition("__")
        rest = rest.removeprefix("missingindicator_")
        sources.append(next(column for column in known if rest == column or rest.startswith(column + "_")))
    return sources


def build_explainer(fitted: Pipeline, spec: FeatureSpec, X: pd.DataFrame) -> Explainer:
    """For a logistic pipeline, its coefficients; for trees, a ridge surrogate fitted to the model's log-odds."""
    if isinstance(fitted.named_steps["model"], LogisticRegression):
        preprocessor = fitted.named_steps["prepare"]
        coef = fitted.named_steps["model"].coef_[0]
    else:
        preprocessor = linear_preprocessor(spec).fit(X)
        log_odds = fitted.decision_function(X)
        coef = Ridge(alpha=1.0).fit(preprocessor.transform(X), log_odds).coef_
    transformed = np.asarray(preprocessor.transform(X), dtype="float64")
    sources = _sources(preprocessor, spec)
    features = list(dict.fromkeys(sources))
    return Explainer(preprocessor, np.asarray(coef), transformed.mean(axis=0), sources, features)


@dataclass
class TrainedModel:
    """What a stored artefact holds: the calibrated model, its explainer, feature spec and grade cut-offs."""

    kind: str
    model: ClassifierMixin
    explainer: Explainer
    spec: FeatureSpec
    grade_thresholds: dict[str, float]
    base_rate: float

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.model.predict_proba(X))[:, 1]

    def grades(self, probabilities: np.ndarray) -> np.ndarray:
        grades = np.full(len(probabilities), "D", dtype=object)
        for grade in ("C", "B", "A"):
            grades[probabilities >= self.grade_thresholds[grade]] = grade
        return grades


def grade_thresholds(probabilities: np.ndarray) -> dict[str, float]:
    """Probability cut-offs so that the population splits 10 / 20 / 30 / 40 % into grades A / B / C / D."""
    thresholds, share = {}, 0.0
    for grade, part in GRADE_SHARES.items():
        share += part
        thresholds[grade] = float(np.quantile(probabilities, 1 - share))
    return thresholds


def fit_final(
    kind: str, spec: FeatureSpec, X: pd.DataFrame, y: np.ndarray, oof: np.ndarray, *, seed: int = 0
) -> TrainedModel:
    """Fit the chosen candidate on all rows, calibrated, with its explainer; grades from out-of-fold scores."""
    pipeline = CANDIDATES[kind](spec)
    model = calibrated(pipeline, int(y.sum()), seed=seed).fit(X, y)
    inner = model.calibrated_classifiers_[0].estimator
    explainer = build_explainer(inner, spec, X)
    return TrainedModel(kind, model, explainer, spec, grade_thresholds(oof), float(y.mean()))
