"""Reasons in plain words: turns a feature and its value into "clicked 4 emails in 30 days" or "industry = software"."""

from __future__ import annotations

import json
import math
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

from scoring.features import NEVER_DAYS

# event type -> (verb, singular noun, plural noun)
EVENT_WORDS = {
    "email.sent": ("received", "email", "emails"),
    "email.delivered": ("received", "email", "emails"),
    "email.opened": ("opened", "email", "emails"),
    "email.clicked": ("clicked", "email", "emails"),
    "email.bounced": ("bounced", "email", "emails"),
    "email.unsubscribed": ("unsubscribed from", "list", "lists"),
    "email.complained": ("reported as spam", "email", "emails"),
    "sms.sent": ("received", "SMS", "SMS"),
    "sms.delivered": ("received", "SMS", "SMS"),
    "sms.received": ("replied by", "SMS", "SMS"),
    "mail.sent": ("received", "letter", "letters"),
    "form.submitted": ("submitted", "form", "forms"),
    "page.visited": ("visited", "page", "pages"),
    "survey.answered": ("answered", "survey", "surveys"),
}
FIELD_LABELS = {
    "account:industry": "company industry", "account:country": "company country", "account:size": "company size",
    "contact:lifecycle_stage": "stage", "contact:tenure_days": "days since added",
}


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.3g}"


def _count_phrase(event_type: str, count: float) -> str:
    verb, one, many = EVENT_WORDS.get(event_type, ("", event_type, event_type))
    noun = one if count == 1 else many
    return f"{verb} {_number(count)} {noun}".strip() if verb else f"{_number(count)} × {event_type}"


def describe(feature: str, value: Any) -> str:
    """One feature value in words a salesperson reads without a glossary."""
    kind, _, rest = feature.partition(":")
    if kind == "events":
        event_type, _, window = rest.rpartition(":")
        span = "in total" if window == "all" else f"in {window.removesuffix('d')} days"
        return f"{_count_phrase(event_type, float(value))} {span}"
    if kind == "recency":
        return _recency_phrase(rest, float(value))
    if kind == "conversions":
        return {"count": f"{_number(float(value))} previous conversion(s)",
                "amount": f"spent {_number(round(float(value), 2))} before"}.get(rest, f"{rest} = {value}")
    label = FIELD_LABELS.get(feature, f"company {rest}" if kind == "acct" else rest)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return f"no {label}"
    if isinstance(value, float | np.floating):
        value = _number(float(value))
    return f"{label} = {value}"


def _recency_phrase(event_type: str, days: float) -> str:
    what = "converted" if event_type == "conversion" else _count_phrase(event_type, 1).replace(" 1 ", " an ")
    if days >= NEVER_DAYS:
        return f"never {what}"
    when = "today" if days < 1 else f"{int(days)} day{'s' if int(days) != 1 else ''} ago"
    return f"last {what} {when}"


def top_reasons(
    contributions: np.ndarray, features: list[str], frame: pd.DataFrame, *, count: int = 3
) -> list[list[dict[str, Any]]]:
    """Per row, the `count` features that push its score up most, as {reason, feature, impact}."""
    if not len(features):
        return [[] for _ in range(len(frame))]
    top, picked = _top_columns(_mask_absent(contributions, features, frame), features, count)
    columns = [frame[feature].to_numpy() for feature in features]
    words = lru_cache(maxsize=100_000)(describe)  # values repeat a lot: counts, categories
    rows: list[list[dict[str, Any]]] = []
    for row, (picks, impacts) in enumerate(zip(top.tolist(), picked.tolist(), strict=True)):
        ordered = sorted(zip(impacts, picks, strict=True), reverse=True)
        rows.append([
            {"reason": words(features[pick], columns[pick][row]), "feature": features[pick],
             "impact": round(impact, 3)}
            for impact, pick in ordered if impact > 0.01
        ])
    return rows


def top_reasons_json(
    contributions: np.ndarray, features: list[str], frame: pd.DataFrame, *, count: int = 3
) -> list[str]:
    """`json.dumps(top_reasons(...)[row], ensure_ascii=False)` for every row, vectorised: each distinct feature
    value that is somebody's reason is put into words and encoded once, then rows are assembled column-wise."""
    if not len(features):
        return ["[]"] * len(frame)
    top, picked = _top_columns(_mask_absent(contributions, features, frame), features, count)
    take = top.shape[1]
    order = np.lexsort((-top, -picked), axis=-1)  # strongest first, ties as top_reasons orders them
    top, picked = np.take_along_axis(top, order, axis=1), np.take_along_axis(picked, order, axis=1)
    valid = picked > 0.01
    table, slots = _fragments(features, frame, top, valid)
    out = np.full(len(frame), "[", dtype=object)
    for rank in range(take):
        # Impacts have 3 decimals: a few thousand distinct values, each formatted once.
        distinct, inverse = np.unique(np.round(np.where(valid[:, rank], picked[:, rank], 0.0), 3),
                                      return_inverse=True)
        impacts = np.array([repr(round(value, 3)) for value in distinct.tolist()], dtype=object)[inverse]
        part = table[slots[:, rank]] + impacts + "}"
        out = out + np.where(valid[:, rank], part if rank == 0 else ", " + part, "")
    return list((out + "]").tolist())


def family(feature: str) -> str:
    """What a reason is about: the event type for its counts and recency (one reason per behaviour, not three
    windows of the same clicks), else the feature itself."""
    kind, _, rest = feature.partition(":")
    if kind == "events":
        return rest.rpartition(":")[0]
    return rest if kind == "recency" else feature


def _top_columns(masked: np.ndarray, features: list[str], count: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the columns of its `count` strongest families (each family's strongest column) and their values."""
    groups: dict[str, list[int]] = {}
    for column, feature in enumerate(features):
        groups.setdefault(family(feature), []).append(column)
    best_column = np.empty((len(masked), len(groups)), dtype=np.int64)
    for number, columns in enumerate(groups.values()):
        best_column[:, number] = np.asarray(columns)[np.argmax(masked[:, columns], axis=1)]
    best = np.take_along_axis(masked, best_column, axis=1)
    take = min(count, len(groups))
    chosen = np.argpartition(-best, take - 1, axis=1)[:, :take]
    top = np.take_along_axis(best_column, chosen, axis=1)
    return top, np.take_along_axis(masked, top, axis=1)


def _fragments(features: list[str], frame: pd.DataFrame, top: np.ndarray,
               valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A table of `{"reason": …, "feature": …, "impact": ` fragments and, per row and rank, its slot in it."""
    codes = np.empty((len(frame), len(features)), dtype=np.int64)
    uniques = []
    for column, feature in enumerate(features):
        values = frame[feature]
        if feature.startswith("recency:"):  # worded in whole days: one phrase per day, not per timestamp
            values = np.floor(values.clip(lower=0))
        codes[:, column], found = pd.factorize(values, use_na_sentinel=True)
        uniques.append(found)
    sizes = np.array([len(found) + 1 for found in uniques])  # the last slot of a feature is "missing"
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    code = np.take_along_axis(codes, top, axis=1)
    slots = offsets[top] + np.where(code < 0, sizes[top] - 1, code)
    table = np.full(int(sizes.sum()), "", dtype=object)
    for slot in np.unique(slots[valid]).tolist():
        column = int(np.searchsorted(offsets, slot, side="right")) - 1
        position = slot - int(offsets[column])
        value = uniques[column][position] if position < len(uniques[column]) else None
        table[slot] = (f'{{"reason": {json.dumps(describe(features[column], value), ensure_ascii=False)}, '
                       f'"feature": {json.dumps(features[column], ensure_ascii=False)}, "impact": ')
    return table, slots


def _mask_absent(contributions: np.ndarray, features: list[str], frame: pd.DataFrame) -> np.ndarray:
    """A reason names something the contact did or is: "opened 0 emails" or "never clicked" never lead."""
    masked = contributions.copy()
    for position, feature in enumerate(features):
        if feature.startswith(("events:", "conversions:")):
            masked[frame[feature].to_numpy() == 0, position] = -np.inf
        elif feature.startswith("recency:"):
            masked[frame[feature].to_numpy() >= NEVER_DAYS, position] = -np.inf
    return masked


def explain_row(
    contributions: np.ndarray, features: list[str], values: pd.Series, *, limit: int = 8
) -> list[dict[str, Any]]:
    """Every notable contribution of one contact, strongest first (positive and negative)."""
    order = np.argsort(-np.abs(contributions))[:limit]
    return [
        {"reason": describe(features[index], values[features[index]]), "feature": features[index],
         "impact": round(float(contributions[index]), 3)}
        for index in order if abs(contributions[index]) > 0.005
    ]
