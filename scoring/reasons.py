"""Reasons in plain words: turns a feature and its value into "clicked 4 emails in 30 days" or "industry = software"."""

from __future__ import annotations

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
    label = FIELD_LABELS.get(feature, rest)
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
    contributions = _mask_absent(contributions, features, frame)
    take = min(count, len(features))
    top = np.argpartition(-contributions, take - 1, axis=1)[:, :take]
    columns = [frame[feature].to_numpy() for feature in features]
    words = lru_cache(maxsize=100_000)(describe)  # values repeat a lot: counts, categories
    picked = np.take_along_axis(contributions, top, axis=1)
    rows: list[list[dict[str, Any]]] = []
    for row, (picks, impacts) in enumerate(zip(top.tolist(), picked.tolist(), strict=True)):
        ordered = sorted(zip(impacts, picks, strict=True), reverse=True)
        rows.append([
            {"reason": words(features[pick], columns[pick][row]), "feature": features[pick],
             "impact": round(impact, 3)}
            for impact, pick in ordered if impact > 0.01
        ])
    return rows


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
