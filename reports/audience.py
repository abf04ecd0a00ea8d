"""Read-only views of the audience for reports and the dashboard: reachability, segments over time, scores, leads."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Integer, case, cast, func, or_, select
from sqlalchemy.orm import Session

from core.dialect import is_sqlite
from core.models import Consent, Contact, ScoringModel, Segment, SegmentSnapshot
from reports.attribution import Period
from reports.sql import bound, utc_day

CHANNEL_STATUS = {"email": Contact.email_status, "sms": Contact.sms_status, "mail": Contact.mail_status}
_LIVE = Contact.erased_at.is_(None)


@dataclass(frozen=True)
class Reach:
    """Live contacts per channel: with an address, valid / unknown / invalid, and marketing consent granted."""

    channel: str
    with_address: int
    valid: int
    unknown: int
    invalid: int
    consented: int


def contacts_and_reach(session: Session, period: Period | None = None) -> tuple[dict[str, int], list[Reach]]:
    """Totals (live, created in the period, erased) and reachability per channel, in one pass over contacts
    plus one over consents."""
    created = func.count().filter(_LIVE, Contact.created_at >= bound(period.since),
                                  Contact.created_at < bound(period.until)) if period else func.count().filter(_LIVE)
    columns = [func.count().filter(_LIVE), created, func.count().filter(Contact.erased_at.is_not(None))]
    addresses = {"email": Contact.email.is_not(None), "sms": Contact.phone.is_not(None),
                 "mail": Contact.address_line1.is_not(None)}
    for channel, status in CHANNEL_STATUS.items():
        has = addresses[channel]
        columns += [func.count().filter(_LIVE, has), func.count().filter(_LIVE, has, status == "valid"),
                    func.count().filter(_LIVE, has, status == "unknown"),
                    func.count().filter(_LIVE, has, status == "invalid")]
    values = [int(value or 0) for value in session.execute(select(*columns)).one()]
    consented: dict[str, int] = dict(session.execute(
        select(Consent.channel, func.count()).where(Consent.topic == "marketing", Consent.status == "granted")
        .group_by(Consent.channel)).tuples().all())
    totals = {"contacts": values[0], "new": values[1], "erased": values[2]}
    reach = []
    for index, channel in enumerate(CHANNEL_STATUS):
        first = 3 + index * 4
        reach.append(Reach(channel, values[first], values[first + 1], values[first + 2], values[first + 3],
                           int(consented.get(channel, 0))))
    return totals, reach


def contact_totals(session: Session, period: Period | None = None) -> dict[str, int]:
    """Live contacts, contacts created in the period, erased contacts."""
    return contacts_and_reach(session, period)[0]


def reachability(session: Session) -> list[Reach]:
    """Per channel: live contacts with an address, by address status, and with marketing consent granted."""
    return contacts_and_reach(session)[1]


def segments_summary(session: Session) -> list[dict[str, Any]]:
    """Every segment with its size, kind and last refresh."""
    query = select(Segment.id, Segment.name, Segment.kind, Segment.size, Segment.refreshed_at,
                   Segment.description).order_by(Segment.name)
    return [dict(row._mapping) for row in session.execute(query)]


def segment_history(session: Session, segment_ids: list[int] | None = None) -> list[dict[str, Any]]:
    """Sizes after each refresh (from the snapshots), oldest first: segment, measured_at, size, entered, exited."""
    query = (select(Segment.name.label("segment"), SegmentSnapshot.measured_at, SegmentSnapshot.size,
                    SegmentSnapshot.entered, SegmentSnapshot.exited)
             .join(Segment, Segment.id == SegmentSnapshot.segment_id).order_by(SegmentSnapshot.measured_at))
    if segment_ids:
        query = query.where(SegmentSnapshot.segment_id.in_(segment_ids))
    return [dict(row._mapping) for row in session.execute(query)]


@dataclass(frozen=True)
class ScoreDistributions:
    """Live contacts per rule-score band, per predicted-probability tenth and per grade."""

    scores: list[dict[str, Any]]
    probabilities: list[dict[str, Any]]
    grades: dict[str, int]


def score_distributions(session: Session, *, width: int = 10) -> ScoreDistributions:
    """The three distributions from one pass over contacts: GROUP BY (band, tenth, grade), summed per dimension."""
    # Non-negative numbers: integer division and truncation are floor() (which SQLAlchemy gives SQLite as a Python
    # function, called per row: the slowest part of the query there, and failing on NULL, hence the CASEs).
    band = case((Contact.score < 0, -1), else_=Contact.score // width)
    tenth = cast(Contact.predicted_score * 10, Integer) if is_sqlite(session) else \
        func.floor(Contact.predicted_score * 10)
    capped = case((Contact.predicted_score.is_(None), None), (Contact.predicted_score >= 1, 9), else_=tenth)
    bands: dict[int, int] = defaultdict(int)
    tenths: dict[int, int] = defaultdict(int)
    graded: dict[str, int] = defaultdict(int)
    for low, part, grade, count in session.execute(
            select(band, capped, Contact.grade, func.count()).where(_LIVE).group_by(band, capped, Contact.grade)):
        bands[int(low)] += int(count)
        if part is not None:
            tenths[int(part)] += int(count)
        graded[str(grade) if grade else "ungraded"] += int(count)
    return ScoreDistributions(
        [{"band": f"{low * width}–{low * width + width - 1}" if low >= 0 else "< 0",
          "low": low * width if low >= 0 else None, "contacts": count} for low, count in sorted(bands.items())],
        [{"tenth": value, "range": f"{value * 10}–{value * 10 + 10} %", "contacts": count}
         for value, count in sorted(tenths.items())],
        dict(sorted(graded.items())))


def active_model(session: Session) -> dict[str, Any] | None:
    """The active scoring model's version, kind, creation date and metrics (deciles for the lift chart)."""
    row = session.execute(select(ScoringModel.version, ScoringModel.kind, ScoringModel.created_at,
                                 ScoringModel.metrics).where(ScoringModel.active.is_(True))).first()
    return dict(row._mapping) if row else None


def hottest_leads(session: Session, *, limit: int = 25) -> list[dict[str, Any]]:
    """Live non-customers by predicted probability then rule score, with the model's reasons in words."""
    query = (select(Contact.id, Contact.email, Contact.first_name, Contact.last_name, Contact.company,
                    Contact.lifecycle_stage, Contact.score, Contact.predicted_score, Contact.grade,
                    Contact.score_reasons)
             .where(_LIVE, Contact.lifecycle_stage != "customer")
             .order_by(Contact.predicted_score.desc().nulls_last(), Contact.score.desc(), Contact.id).limit(limit))
    leads = []
    for row in session.execute(query):
        item = dict(row._mapping)
        reasons = item.pop("score_reasons") or []
        item["reasons"] = "; ".join(str(reason.get("reason", reason)) if isinstance(reason, dict) else str(reason)
                                    for reason in reasons)
        leads.append(item)
    return leads


def search_contacts(session: Session, text: str, *, limit: int = 50) -> list[dict[str, Any]]:
    """Live contacts whose email starts with, or whose name or company contains, `text` (case-insensitive)."""
    needle = text.strip().lower()
    if not needle:
        return []
    conditions: list[Any] = [Contact.email.like(f"{needle}%"), func.lower(Contact.last_name).like(f"%{needle}%"),
                  func.lower(Contact.first_name).like(f"%{needle}%"), func.lower(Contact.company).like(f"%{needle}%")]
    if needle.isdigit():
        conditions.append(Contact.id == int(needle))
    query = (select(Contact.id, Contact.email, Contact.first_name, Contact.last_name, Contact.company,
                    Contact.country, Contact.lifecycle_stage, Contact.score)
             .where(_LIVE, or_(*conditions)).order_by(Contact.id).limit(limit))
    return [dict(row._mapping) for row in session.execute(query)]


def new_contacts_by_day(session: Session, period: Period) -> list[dict[str, Any]]:
    """Contacts created per UTC day of the period."""
    day = utc_day(session, Contact.created_at)
    query = (select(day, func.count()).where(Contact.created_at >= bound(period.since),
                                             Contact.created_at < bound(period.until)).group_by(day).order_by(day))
    return [{"day": str(value), "new_contacts": int(count)} for value, count in session.execute(query)]
