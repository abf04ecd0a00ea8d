"""A synthetic company with a known conversion signal, for tests and benchmarks (bulk inserts, any size)."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from contacts.timeline import NewEvent, record_events
from core.models import Contact, Conversion

INDUSTRIES = ("software", "retail", "bank", "health", "other")
INDUSTRY_EFFECT = {"software": 1.0, "retail": -0.3, "bank": 0.2, "health": 0.0, "other": -0.5}


def build_company(
    session: Session, *, contacts: int, now: datetime, horizon_days: int = 90, seed: int = 0,
    events_per_contact: float = 4.0, chunk: int = 20_000,
) -> dict[str, int]:
    """Contacts created a year before the cutoff, engagement before it, conversions in the horizon after it.

    The chance to convert rises with clicks in the 30 days before the cutoff and with the software industry;
    a `form.submitted` event right before each conversion (after the cutoff) would give away the answer if
    features leaked from the future.
    """
    rng = np.random.default_rng(seed)
    cutoff = now - timedelta(days=horizon_days)
    totals = {"contacts": 0, "events": 0, "conversions": 0}
    offset = session.scalar(select(func.count()).select_from(Contact)) or 0
    for start in range(0, contacts, chunk):
        size = min(chunk, contacts - start)
        counts = _write_chunk(session, rng, size, offset + start, cutoff, horizon_days, events_per_contact)
        for key, value in counts.items():
            totals[key] += value
    session.commit()
    return totals


def _write_chunk(
    session: Session, rng: np.random.Generator, size: int, start: int, cutoff: datetime, horizon: int, rate: float
) -> dict[str, int]:
    industries = rng.choice(INDUSTRIES, size=size)
    interest = rng.gamma(1.0, rate / 3, size=size)
    created = cutoff - timedelta(days=365)
    returning = insert(Contact).returning(Contact.id, sort_by_parameter_order=True)
    ids = np.array(session.scalars(returning, [
        {"email": f"lead{number}@example.com", "country": str(rng.choice(["FR", "BE", "DE"])),
         "source": str(rng.choice(["web", "fair", "partner"])), "created_at": created, "updated_at": created,
         "attributes": {"industry": str(industry), "employees": int(rng.integers(1, 2000)),
                        "crm_id": f"X{number:09d}"}}
        for number, industry in enumerate(industries, start=start)
    ]).all())
    events, clicks_30d = _engagement(rng, ids, interest, cutoff)
    logits = -2.6 + 0.9 * clicks_30d + np.array([INDUSTRY_EFFECT[str(i)] for i in industries])
    converts = rng.random(len(ids)) < 1 / (1 + np.exp(-logits))
    conversions = []
    for cid in ids[converts]:
        at = cutoff + timedelta(days=float(rng.uniform(1, horizon - 1)))
        conversions.append({"contact_id": int(cid), "amount": Decimal("120.00"), "currency": "EUR",
                            "occurred_at": at, "kind": "purchase", "external_ref": f"synthetic-{cid}"})
        events.append({"contact_id": int(cid), "type": "form.submitted", "occurred_at": at - timedelta(hours=1),
                       "properties": {"form": "demo"}, "dedupe_key": f"syn:form:{cid}"})
    _insert_events(session, events)
    if conversions:
        session.execute(insert(Conversion), conversions)
    return {"contacts": len(ids), "events": len(events), "conversions": len(conversions)}


def _engagement(
    rng: np.random.Generator, ids: np.ndarray, interest: np.ndarray, cutoff: datetime
) -> tuple[list[dict[str, Any]], np.ndarray]:
    events: list[dict[str, Any]] = []
    clicks_30d = np.zeros(len(ids))
    for row, (cid, level) in enumerate(zip(ids, interest, strict=True)):
        for number in range(int(rng.poisson(level * 3))):
            kind = "email.clicked" if rng.random() < 0.3 else "email.opened"
            age = float(rng.exponential(60.0))
            if kind == "email.clicked" and age <= 30:
                clicks_30d[row] += 1
            events.append({"contact_id": int(cid), "type": kind, "occurred_at": cutoff - timedelta(days=age),
                           "properties": {}, "dedupe_key": f"syn:{cid}:{number}"})
    return events, np.minimum(clicks_30d, 4)


def _insert_events(session: Session, events: list[dict[str, Any]]) -> None:
    record_events(session, (NewEvent(event["type"], event["dedupe_key"], event["contact_id"], event["occurred_at"],
                                     properties=event["properties"]) for event in events))
