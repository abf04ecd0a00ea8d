"""KMeans clusters over numeric attributes and engagement aggregates, written to `attributes.cluster`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.cluster import KMeans, MiniBatchKMeans
from sklearn.metrics import silhouette_score
from sklearn.preprocessing import StandardScaler
from sqlalchemy import Column, Integer, and_, func, outerjoin, select, text
from sqlalchemy.orm import Session

from core.dialect import create_temporary, drop_temporary, is_sqlite
from core.models import Contact, ContactEventStat
from segments.catalogue import ATTRIBUTE_KEY
from segments.compile_context import json_value
from segments.compiler import make_context

# Engagement aggregates read from the per-contact stats (all-time).
ENGAGEMENT = {
    "opens": ("email.opened", "count"),
    "clicks": ("email.clicked", "count"),
    "conversions": ("conversion", "count"),
    "revenue": ("conversion", "total"),
}
FIT_SAMPLE = 50_000
SILHOUETTE_SAMPLE = 3_000


@dataclass
class ClusterResult:
    """The clustering that was written: k, how it was chosen, and a profile (size and means) per cluster."""

    k: int
    features: list[str]
    silhouette: float | None
    profiles: list[dict[str, Any]] = field(default_factory=list)
    tried: dict[int, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"k": self.k, "features": self.features, "silhouette": self.silhouette, "tried": self.tried,
                "profiles": self.profiles}


def _feature_query(session: Session, attributes: list[str]) -> Any:
    ctx = make_context(session)
    columns: list[Any] = [Contact.id]
    query_from: Any = Contact
    for name, (event_type, measure) in ENGAGEMENT.items():
        stats = ContactEventStat.__table__.alias(f"stats_{name}")
        query_from = outerjoin(query_from, stats, and_(stats.c.contact_id == Contact.id, stats.c.type == event_type))
        columns.append(func.coalesce(stats.c[measure], 0).label(name))
    for key in attributes:
        columns.append(json_value(ctx, Contact.attributes, key, "number").label(f"attributes.{key}"))
    return select(*columns).select_from(query_from).where(Contact.erased_at.is_(None)).order_by(Contact.id)


def load_features(session: Session, attributes: list[str]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(contact ids, feature matrix, feature names); missing attribute values become the column median."""
    for key in attributes:
        if not ATTRIBUTE_KEY.match(key):
            raise ValueError(f"attribute name {key!r} must be letters, digits and _")
    names = list(ENGAGEMENT) + [f"attributes.{key}" for key in attributes]
    rows = session.execute(_feature_query(session, attributes)).all()
    if len(rows) < 3:
        raise ValueError(f"clustering needs at least 3 contacts, found {len(rows)}")
    ids = np.array([row[0] for row in rows], dtype=np.int64)
    matrix = np.array([[np.nan if value is None else float(value) for value in row[1:]] for row in rows],
                      dtype=float).reshape(len(rows), len(names))
    for column in range(matrix.shape[1]):
        missing = np.isnan(matrix[:, column])
        if missing.all():
            raise ValueError(f"no contact has a numeric {names[column]}")
        matrix[missing, column] = np.nanmedian(matrix[:, column])
    return ids, matrix, names


def suggest_k(scaled: np.ndarray, *, candidates: range = range(2, 7), seed: int = 42) -> dict[int, float]:
    """Silhouette score per candidate k, on a sample (higher is better)."""
    rng = np.random.default_rng(seed)
    sample = scaled[rng.choice(len(scaled), min(len(scaled), SILHOUETTE_SAMPLE), replace=False)]
    scores: dict[int, float] = {}
    for k in candidates:
        if k >= len(sample):
            break
        labels = KMeans(n_clusters=k, n_init=4, random_state=seed).fit_predict(sample)
        if len(set(labels)) > 1:
            scores[k] = round(float(silhouette_score(sample, labels)), 4)
    return scores


def _fit(scaled: np.ndarray, k: int, seed: int) -> np.ndarray:
    if len(scaled) <= FIT_SAMPLE:
        return np.asarray(KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(scaled))
    model = MiniBatchKMeans(n_clusters=k, n_init=3, random_state=seed, batch_size=4096).fit(scaled)
    return np.asarray(model.predict(scaled))


def _summary(members: np.ndarray, names: list[str]) -> str:
    """What sets a cluster apart: features whose mean is at least half a standard deviation from everyone's."""
    centre = members.mean(axis=0)
    notable = sorted(((abs(value), name, value) for name, value in zip(names, centre, strict=True)
                      if abs(value) >= 0.5), reverse=True)[:3]
    if not notable:
        return "average"
    words = [f"{'high' if value > 0 else 'low'} {name.removeprefix('attributes.')}" for _, name, value in notable]
    return ", ".join(words)


def _by_size(labels: np.ndarray) -> np.ndarray:
    """Relabel so cluster 0 is the largest (stable labels across runs on the same data)."""
    order = np.argsort(-np.bincount(labels), kind="stable")
    mapping = np.empty_like(order)
    mapping[order] = np.arange(len(order))
    return mapping[labels]


def _write_labels(session: Session, ids: np.ndarray, labels: np.ndarray) -> None:
    labels_table = create_temporary(session, "cluster_labels", Column("contact_id", Integer, primary_key=True),
                                    Column("label", Integer))
    rows = [{"contact_id": int(i), "label": int(label)} for i, label in zip(ids, labels, strict=True)]
    for start in range(0, len(rows), 10_000):
        session.connection().execute(labels_table.insert(), rows[start:start + 10_000])
    if is_sqlite(session):
        sql = """UPDATE contacts SET attributes = json_set(COALESCE(contacts.attributes, '{}'), '$.cluster', l.label)
                 FROM cluster_labels AS l WHERE contacts.id = l.contact_id"""
    else:
        sql = """UPDATE contacts SET attributes = COALESCE(contacts.attributes, '{}'::jsonb)
                 || jsonb_build_object('cluster', l.label) FROM cluster_labels AS l WHERE contacts.id = l.contact_id"""
    session.execute(text(sql))
    drop_temporary(session, labels_table)


def cluster_contacts(session: Session, attributes: list[str] | None = None, *, k: int | None = None,
                     seed: int = 42) -> ClusterResult:
    """Cluster contacts on engagement (opens, clicks, conversions, revenue) plus `attributes`, k given or
    suggested by silhouette; writes `attributes.cluster` (0 = largest) and returns per-cluster profiles."""
    ids, matrix, names = load_features(session, attributes or [])
    if len(ids) < 3:
        raise ValueError("clustering needs at least 3 contacts")
    shaped = matrix.copy()
    engagement = len(ENGAGEMENT)  # heavy-tailed counts and revenue: compare on a log scale
    shaped[:, :engagement] = np.log1p(np.clip(shaped[:, :engagement], 0, None))
    scaled = StandardScaler().fit_transform(shaped)
    tried = suggest_k(scaled, seed=seed) if k is None else {}
    chosen = k if k is not None else max(tried, key=lambda candidate: tried[candidate], default=2)
    distinct = len(np.unique(scaled, axis=0))
    if not 2 <= chosen <= distinct:
        raise ValueError(f"cannot make {chosen} clusters: the contacts have only {distinct} distinct profiles")
    labels = _by_size(_fit(scaled, chosen, seed))
    _write_labels(session, ids, labels)
    profiles = [
        {"cluster": label, "size": int((labels == label).sum()), "summary": _summary(scaled[labels == label], names),
         **{name: round(float(matrix[labels == label, column].mean()), 2) for column, name in enumerate(names)}}
        for label in range(chosen)
    ]
    return ClusterResult(chosen, names, tried.get(chosen), profiles, tried)

