"""What "converted" means for training: a conversion (or stage reached) within N days after a cutoff, or ever."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import ColumnElement, and_, exists, select
from sqlalchemy.orm import Session

from core import clock
from core.models import Contact, Conversion, Event
from scoring.features import FeatureSpec, discover_features, features_as_of

MIN_CLASS = 10  # fewer positives (or negatives) than this and there is nothing honest to learn
STAGE_WITHOUT_HISTORY = ("customers whose stage was set without a history (imported?) converted after the cutoff: "
                         "their stage would reveal the outcome")


class NotEnoughData(ValueError):
    """The data cannot support a model (too few converters, too few contacts)."""


@dataclass(frozen=True)
class Target:
    """The outcome to predict. mode: auto (window when the timeline allows it, else ever) | window | ever."""

    mode: str = "auto"
    horizon_days: int = 90
    conversion_kind: str | None = None
    stage: str | None = None  # predict reaching this lifecycle stage instead of a conversion
    cutoff: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["cutoff"] = self.cutoff.isoformat() if self.cutoff else None
        return data

    def describe(self) -> str:
        what = f"reached stage {self.stage}" if self.stage else "converted"
        if self.conversion_kind and not self.stage:
            what += f" ({self.conversion_kind})"
        if self.mode == "ever":
            return f"{what}, ever (snapshot: no cutoff)"
        cutoff = self.cutoff.date().isoformat() if self.cutoff else "?"
        return f"{what} within {self.horizon_days} days after {cutoff}"


def _outcome(target: Target, start: datetime | None, end: datetime | None) -> ColumnElement[bool]:
    if target.stage:
        window = [Event.contact_id == Contact.id, Event.type == "stage.changed",
                  Event.properties["to"].as_string() == target.stage]
        column: Any = Event.occurred_at
    else:
        window = [Conversion.contact_id == Contact.id]
        if target.conversion_kind:
            window.append(Conversion.kind == target.conversion_kind)
        column = Conversion.occurred_at
    if start is not None:
        window.append(column > start)
    if end is not None:
        window.append(column <= end)
    return exists().where(and_(*window))


def _counts(session: Session, target: Target, cutoff: datetime | None) -> tuple[int, int]:
    outcome = _outcome(target, cutoff, cutoff + timedelta(days=target.horizon_days) if cutoff else None)
    query = select(Contact.id, outcome).where(Contact.erased_at.is_(None))
    if cutoff is not None:
        query = query.where(Contact.created_at <= cutoff)
    labels = [bool(flag) for _, flag in session.execute(query)]
    return sum(labels), len(labels) - sum(labels)


def resolve(session: Session, target: Target) -> Target:
    """Fix the mode and cutoff; raise NotEnoughData with a clear message when nothing can be learnt."""
    cutoff = target.cutoff or clock.now() - timedelta(days=target.horizon_days)
    windowed = replace(target, mode="window", cutoff=cutoff)
    if target.mode in ("auto", "window"):
        positives, negatives = _counts(session, windowed, cutoff)
        if min(positives, negatives) >= MIN_CLASS or target.mode == "window":
            _check(positives, negatives, windowed)
            return windowed
    ever = replace(target, mode="ever", cutoff=None)
    positives, negatives = _counts(session, ever, None)
    _check(positives, negatives, ever)
    return ever


def _check(positives: int, negatives: int, target: Target) -> None:
    if positives < MIN_CLASS or negatives < MIN_CLASS:
        raise NotEnoughData(
            f"not enough data to learn '{target.describe()}': {positives} contacts did, {negatives} did not "
            f"(need at least {MIN_CLASS} of each). Import conversions, widen --horizon or use --target ever."
        )


def _stage_reveals_outcome(session: Session, cutoff: datetime) -> bool:
    """Whether some contact is a customer with no stage history, no conversion before the cutoff and one after it:
    its stage was written after the outcome (an import, a CRM sync) and its value "as of the cutoff" would be
    the answer itself."""
    conversion = [Conversion.contact_id == Contact.id]
    later_stage = exists().where(Event.contact_id == Contact.id, Event.type == "stage.changed",
                                 Event.occurred_at > cutoff)
    query = select(Contact.id).where(
        Contact.lifecycle_stage == "customer", Contact.created_at <= cutoff, Contact.erased_at.is_(None),
        ~exists().where(*conversion, Conversion.occurred_at <= cutoff),
        exists().where(*conversion, Conversion.occurred_at > cutoff), ~later_stage,
    ).limit(1)
    return session.scalar(query) is not None


def labels(session: Session, target: Target) -> pd.Series:
    """1/0 per contact id of the training population (contacts that existed at the cutoff)."""
    end = target.cutoff + timedelta(days=target.horizon_days) if target.cutoff else None
    query = select(Contact.id, _outcome(target, target.cutoff, end)).where(Contact.erased_at.is_(None))
    if target.cutoff is not None:
        query = query.where(Contact.created_at <= target.cutoff)
    rows = session.execute(query.order_by(Contact.id)).all()
    return pd.Series([int(bool(flag)) for _, flag in rows], index=[row[0] for row in rows], dtype="int64")


def training_data(
    session: Session, target: Target, *, spec: FeatureSpec | None = None, exclude: tuple[str, ...] = ()
) -> tuple[pd.DataFrame, np.ndarray, FeatureSpec, Target]:
    """Features as of the cutoff and labels after it, for every contact that existed at the cutoff."""
    resolved = resolve(session, target)
    snapshot = resolved.mode == "ever"
    if spec is None:
        spec = discover_features(session, snapshot=snapshot, exclude=exclude)
        if spec.use_stage and resolved.cutoff is not None and _stage_reveals_outcome(session, resolved.cutoff):
            spec.use_stage = False
            spec.skipped["lifecycle_stage"] = STAGE_WITHOUT_HISTORY
    moment = resolved.cutoff or clock.now()
    frame = features_as_of(session, spec, moment, created_before_cutoff=not snapshot, stage_as_of=not snapshot)
    y = labels(session, resolved).reindex(frame.index).fillna(0).astype(int)
    return frame, y.to_numpy(), spec, resolved
