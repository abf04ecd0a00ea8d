"""Feature discovery and extraction: whatever attributes a company has, plus timeline aggregates as of a cutoff."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import ColumnElement, Select, and_, case, false, func, select
from sqlalchemy.orm import Session

from core.dialect import is_sqlite
from core.models import Account, Contact, ContactEventStat, Conversion, Event
from scoring.sql import days_before

WINDOWS = (7, 30, 90, 365)
NEVER_DAYS = 3650.0  # "days since last" for something that never happened
# Timeline types that describe what Relance did to or concluded about a contact, not what they did.
SYSTEM_EVENT_TYPES = frozenset({
    "score.changed", "stage.changed", "segment.entered", "segment.exited", "consent.changed", "conversion",
})
CONTACT_CATEGORICALS = ("source", "country", "language", "utm_source", "utm_medium")
MAX_EVENT_TYPES = 12
EXCLUDED = "excluded by configuration"
# Attributes Relance itself writes from conversions and engagement as of today (segments.rfm, segments.clustering):
# the outcome is baked in, whatever the cutoff.
DERIVED_ATTRIBUTES = frozenset({"rfm_r", "rfm_f", "rfm_m", "rfm_segment", "cluster"})
DERIVED = "computed by Relance from today's conversions and engagement (RFM, clusters): it would leak the outcome"


def event_type_in(session: Session, types: Any) -> ColumnElement[bool]:
    """`events.type IN (...)` that lets a batch walk the (contact_id, type, occurred_at) index.

    Without statistics SQLite prefers the (type, occurred_at) index and would read every contact's events
    for each batch; `type || ''` hides the type column from the planner so the contact range drives it.
    """
    column = Event.type + "" if is_sqlite(session) else Event.type
    return column.in_(types)


@dataclass
class FeatureSpec:
    """Which features a model uses; discovered from the data, stored with the model as JSON."""

    numeric_attributes: list[str] = field(default_factory=list)
    categorical_attributes: list[str] = field(default_factory=list)
    contact_categoricals: list[str] = field(default_factory=list)
    use_account: bool = False
    account_numeric_attributes: list[str] = field(default_factory=list)  # the company's own custom fields
    account_categorical_attributes: list[str] = field(default_factory=list)
    use_stage: bool = True
    use_conversions: bool = True
    event_types: list[str] = field(default_factory=list)
    windows: list[int] = field(default_factory=lambda: list(WINDOWS))
    skipped: dict[str, str] = field(default_factory=dict)  # attribute -> why it is not used

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Unpickling an artefact saved before a field existed gives that field its default."""
        self.__dict__.update({**FeatureSpec().__dict__, **state})

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FeatureSpec:
        return cls(**data)

    @property
    def categorical_columns(self) -> list[str]:
        columns = [f"attr:{key}" for key in self.categorical_attributes]
        columns += [f"contact:{name}" for name in self.contact_categoricals]
        if self.use_stage:
            columns.append("contact:lifecycle_stage")
        if self.use_account:
            columns += ["account:industry", "account:country"]
            columns += [f"acct:{key}" for key in self.account_categorical_attributes]
        return columns

    @property
    def numeric_columns(self) -> list[str]:
        columns = [f"attr:{key}" for key in self.numeric_attributes] + ["contact:tenure_days"]
        if self.use_account:
            columns.append("account:size")
            columns += [f"acct:{key}" for key in self.account_numeric_attributes]
        for event_type in self.event_types:
            columns += [f"events:{event_type}:{days}d" for days in self.windows]
            columns += [f"events:{event_type}:all", f"recency:{event_type}"]
        if self.use_conversions:
            columns += ["conversions:count", "conversions:amount", "recency:conversion"]
        return columns


# ---------------------------------------------------------------- discovery


def discover_features(
    session: Session, *, snapshot: bool, sample: int = 20000, max_cardinality: int = 50,
    min_presence: float = 0.01, exclude: tuple[str, ...] = (), min_event_contacts: int = 5,
) -> FeatureSpec:
    """Look at the data and decide the features; `snapshot` drops outcome-revealing ones (stage, conversions)."""
    spec = FeatureSpec(use_stage=not snapshot, use_conversions=not snapshot)
    rows = _attribute_sample(session, sample, Contact.attributes)
    spec.numeric_attributes, spec.categorical_attributes, skipped = _classify_attributes(
        rows, max_cardinality, min_presence, set(exclude))
    spec.skipped.update(skipped)
    spec.contact_categoricals = [
        name for name in CONTACT_CATEGORICALS if name not in exclude and _varies(session, getattr(Contact, name))
    ]
    spec.use_account = bool(session.scalar(select(func.count()).where(Contact.account_id.is_not(None))))
    if spec.use_account:  # each contact carries its company's custom fields (rows weighted by contacts)
        rows = _attribute_sample(session, sample, Account.attributes)
        exclude_account = {key.removeprefix("account.") for key in exclude if key.startswith("account.")}
        numeric, categorical, skipped = _classify_attributes(rows, max_cardinality, min_presence, exclude_account)
        spec.account_numeric_attributes, spec.account_categorical_attributes = numeric, categorical
        spec.skipped.update({f"account.{key}": why for key, why in skipped.items()})
    spec.event_types = _engagement_types(session, set(exclude), min_event_contacts)
    for name in exclude:  # remembered with the model, so a scheduled retraining leaves them out too
        spec.skipped.setdefault(name, EXCLUDED)
    return spec


def _attribute_sample(session: Session, sample: int, column: Any) -> list[dict[str, Any]]:
    """The custom attributes (contact's, or its account's) of about `sample` live contacts spread over the ids."""
    total = session.scalar(select(func.count()).select_from(Contact)) or 0
    step = max(1, total // max(sample, 1))
    query = select(column).select_from(Contact).where(Contact.erased_at.is_(None))
    if column is Account.attributes:
        query = query.join(Account, Account.id == Contact.account_id)
    if step > 1:
        query = query.where(Contact.id % step == 0)
    return [row or {} for row in session.scalars(query.limit(sample * 2))]


def _classify_attributes(
    rows: list[dict[str, Any]], max_cardinality: int, min_presence: float, exclude: set[str]
) -> tuple[list[str], list[str], dict[str, str]]:
    """Numeric and categorical attribute names, and why each other one is skipped."""
    values: dict[str, list[Any]] = {}
    for row in rows:
        for key, value in row.items():
            if value is not None and value != "":
                values.setdefault(key, []).append(value)
    numeric, categorical, skipped = [], [], {}
    for key in sorted(values):
        verdict = _attribute_kind(values[key], len(rows), max_cardinality, min_presence)
        if key in exclude:
            skipped[key] = EXCLUDED
        elif key in DERIVED_ATTRIBUTES:
            skipped[key] = DERIVED
        elif verdict == "numeric":
            numeric.append(key)
        elif verdict == "categorical":
            categorical.append(key)
        else:
            skipped[key] = verdict
    return numeric, categorical, skipped


def _attribute_kind(values: list[Any], rows: int, max_cardinality: int, min_presence: float) -> str:
    if len(values) < max(2, min_presence * rows):
        return "too rarely filled"
    if any(isinstance(value, dict | list) for value in values):
        return "nested value"
    numeric = pd.to_numeric(pd.Series([_plain(value) for value in values]), errors="coerce")
    if numeric.notna().mean() >= 0.95 and not _is_code(values):
        return "numeric" if numeric.nunique() > 1 else "constant"
    distinct = len(Counter(str(value) for value in values))
    if distinct <= 1:
        return "constant"
    if distinct > max_cardinality:
        return f"{distinct}+ distinct text values (identifier or free text)"
    return "categorical"


def _is_code(values: list[Any]) -> bool:
    """Digits written as fixed-length text (company numbers, postcodes, leading zeros) are codes, not quantities."""
    lengths = {len(value) for value in values if isinstance(value, str)}
    return len(lengths) == 1 and lengths.pop() >= 4 and all(isinstance(value, str) and value.isdigit()
                                                            for value in values)


def _plain(value: Any) -> Any:
    return int(value) if isinstance(value, bool) else value


def _varies(session: Session, column: Any) -> bool:
    query = select(column).where(column.is_not(None)).distinct().limit(2)
    return len(session.execute(query).all()) > 1


def _engagement_types(session: Session, exclude: set[str], min_contacts: int) -> list[str]:
    volume = func.sum(ContactEventStat.count)
    query = (
        select(ContactEventStat.type)
        .where(ContactEventStat.type.not_in(SYSTEM_EVENT_TYPES | exclude))
        .group_by(ContactEventStat.type)
        .having(func.count() >= min_contacts)
        .order_by(volume.desc(), ContactEventStat.type)
        .limit(MAX_EVENT_TYPES)
    )
    return sorted(session.scalars(query))


# ---------------------------------------------------------------- extraction


def _machine_engagement() -> ColumnElement[bool]:
    """Opens and clicks by privacy proxies and link scanners (properties.machine) are not engagement."""
    machine = func.coalesce(Event.properties["machine"].as_boolean(), false())
    return and_(Event.type.in_(("email.opened", "email.clicked")), machine.is_not(false()))


def _event_aggregates(session: Session, spec: FeatureSpec, cutoff: datetime, id_filter: Any) -> Any:
    columns: list[Any] = [Event.contact_id.label("contact_id")]
    for event_type in spec.event_types:
        is_type = Event.type == event_type
        for days in spec.windows:
            recent = and_(is_type, Event.occurred_at > cutoff - timedelta(days=days))
            columns.append(func.sum(case((recent, 1), else_=0)).label(f"events:{event_type}:{days}d"))
        columns.append(func.sum(case((is_type, 1), else_=0)).label(f"events:{event_type}:all"))
        last = func.max(case((is_type, Event.occurred_at)))
        columns.append(days_before(session, cutoff, last).label(f"recency:{event_type}"))
    query = (
        select(*columns)
        .where(event_type_in(session, spec.event_types), Event.occurred_at <= cutoff, id_filter(Event.contact_id),
               ~_machine_engagement())
        .group_by(Event.contact_id)
    )
    return query.subquery("engagement")


def _conversion_aggregates(session: Session, cutoff: datetime, id_filter: Any) -> Any:
    query = (
        select(
            Conversion.contact_id.label("contact_id"),
            func.count().label("conversions:count"),
            func.sum(Conversion.amount).label("conversions:amount"),
            days_before(session, cutoff, func.max(Conversion.occurred_at)).label("recency:conversion"),
        )
        .where(Conversion.occurred_at <= cutoff, id_filter(Conversion.contact_id))
        .group_by(Conversion.contact_id)
    )
    return query.subquery("converted")


def _stage_as_of(cutoff: datetime) -> ColumnElement[Any]:
    """The stage a contact had at `cutoff`: the `from` of its first stage change after it, else today's."""
    later = (
        select(Event.properties["from"].as_string())
        .where(Event.contact_id == Contact.id, Event.type == "stage.changed", Event.occurred_at > cutoff)
        .order_by(Event.occurred_at, Event.id)
        .limit(1)
        .scalar_subquery()
    )
    return func.coalesce(later, Contact.lifecycle_stage)


def feature_query(
    session: Session, spec: FeatureSpec, cutoff: datetime, *, id_range: tuple[int, int] | None = None,
    created_before_cutoff: bool = False, stage_as_of: bool = True,
) -> Select[Any]:
    """One SELECT returning a row per contact: id then every feature column, all as of `cutoff`."""

    def id_filter(column: Any) -> Any:
        return column.between(*id_range) if id_range else column.is_not(None)

    columns: list[Any] = [Contact.id.label("id")]
    columns += [Contact.attributes[key].as_string().label(f"attr:{key}") for key in spec.categorical_attributes]
    columns += [Contact.attributes[key].as_string().label(f"attr:{key}") for key in spec.numeric_attributes]
    columns += [getattr(Contact, name).label(f"contact:{name}") for name in spec.contact_categoricals]
    columns.append(days_before(session, cutoff, Contact.created_at).label("contact:tenure_days"))
    if spec.use_stage:
        stage = _stage_as_of(cutoff) if stage_as_of else Contact.lifecycle_stage
        columns.append(stage.label("contact:lifecycle_stage"))
    query = select(*columns).where(Contact.erased_at.is_(None), id_filter(Contact.id))
    if spec.use_account:
        query = query.outerjoin(Account, Account.id == Contact.account_id)
        query = query.add_columns(
            Account.industry.label("account:industry"), Account.country.label("account:country"),
            Account.size.label("account:size"),
            *[Account.attributes[key].as_string().label(f"acct:{key}")
              for key in spec.account_categorical_attributes + spec.account_numeric_attributes],
        )
    if spec.event_types:
        engagement = _event_aggregates(session, spec, cutoff, id_filter)
        query = query.outerjoin(engagement, engagement.c.contact_id == Contact.id)
        query = query.add_columns(*[column for column in engagement.c if column.name != "contact_id"])
    if spec.use_conversions:
        converted = _conversion_aggregates(session, cutoff, id_filter)
        query = query.outerjoin(converted, converted.c.contact_id == Contact.id)
        query = query.add_columns(*[column for column in converted.c if column.name != "contact_id"])
    if created_before_cutoff:
        query = query.where(Contact.created_at <= cutoff)
    return query.order_by(Contact.id)


def fetch_features(session: Session, query: Select[Any]) -> pd.DataFrame:
    """Run a feature query into a DataFrame indexed by contact id, with clean dtypes."""
    result: Any = session.connection().execute(query)
    columns = list(result.keys())
    rows = result.cursor.fetchall()  # plain DBAPI tuples: every column is a number or text, no conversion needed
    result.close()
    frame = pd.DataFrame(rows, columns=columns)
    return frame.set_index("id")


def clean_frame(frame: pd.DataFrame, spec: FeatureSpec) -> pd.DataFrame:
    """Numeric columns as floats (never-seen counts 0, never-seen recency NEVER_DAYS); categoricals as text."""
    out = pd.DataFrame(index=frame.index)
    for column in spec.numeric_columns:
        values = pd.to_numeric(frame[column], errors="coerce") if column in frame else np.nan
        series = pd.Series(values, index=frame.index, dtype="float64")
        if column.startswith(("events:", "conversions:")):
            series = series.fillna(0.0)
        elif column.startswith("recency:"):
            series = series.fillna(NEVER_DAYS)
        out[column] = series
    for column in spec.categorical_columns:
        raw = frame[column] if column in frame else pd.Series(None, index=frame.index, dtype=object)
        out[column] = raw.map(lambda value: None if value is None or value != value else str(value)).astype(object)
    return out


def features_as_of(
    session: Session, spec: FeatureSpec, cutoff: datetime, *, id_range: tuple[int, int] | None = None,
    created_before_cutoff: bool = False, stage_as_of: bool = True,
) -> pd.DataFrame:
    """The cleaned feature matrix for contacts (optionally an id range) as of `cutoff`."""
    query = feature_query(
        session, spec, cutoff, id_range=id_range, created_before_cutoff=created_before_cutoff,
        stage_as_of=stage_as_of,
    )
    return clean_frame(fetch_features(session, query), spec)


def id_batches(session: Session, size: int) -> list[tuple[int, int]]:
    """Contiguous (first id, last id) ranges of about `size` live contacts each, for batch work."""
    numbered = select(
        Contact.id.label("id"), (func.row_number().over(order_by=Contact.id) - 1).label("n")
    ).where(Contact.erased_at.is_(None)).subquery()
    bounds = select(func.min(numbered.c.id), func.max(numbered.c.id)).group_by(numbered.c.n // size)
    return sorted((int(low), int(high)) for low, high in session.execute(bounds))

