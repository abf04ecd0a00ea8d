"""RFM scoring in SQL: recency, frequency and monetary quintiles of customers, written as contact attributes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.orm import Session

from core import clock
from core.models import UTCDateTime

# Quintile from percent_rank(): ties share the lowest quintile of their run, so the many customers with a single
# order get F = 1 (with cume_dist() they would share the highest, and one-time buyers would look loyal).
_QUINTILE = (
    "CASE WHEN {pr} < 0.2 THEN 1 WHEN {pr} < 0.4 THEN 2 WHEN {pr} < 0.6 THEN 3 WHEN {pr} < 0.8 THEN 4 ELSE 5 END"
)

# Classic RFM grid on (R, F, M); the first matching rule wins.
SEGMENT_RULES = """CASE
  WHEN r >= 4 AND f >= 4 THEN 'champions'
  WHEN r >= 4 AND f <= 1 THEN 'new_customers'
  WHEN r >= 3 AND f >= 3 THEN 'loyal'
  WHEN r >= 4 THEN 'promising'
  WHEN r = 3 THEN 'need_attention'
  WHEN f >= 4 AND m >= 4 THEN 'cant_lose'
  WHEN f >= 3 THEN 'at_risk'
  WHEN r = 2 THEN 'about_to_sleep'
  ELSE 'hibernating' END"""

# Purchases come from `conversions`, and for contacts with none there, from imported `conversion` events (their
# per-contact stats: count, last time, summed value). Erased contacts are never scored.
SCORES_SQL = f"""
CREATE TEMPORARY TABLE rfm_scores AS
WITH base AS (
  SELECT v.contact_id, MAX(v.occurred_at) AS last_at, COUNT(*) AS frequency, SUM(v.amount) AS monetary
  FROM conversions AS v JOIN contacts AS c ON c.id = v.contact_id AND c.erased_at IS NULL
  WHERE v.occurred_at <= :now GROUP BY v.contact_id
  UNION ALL
  SELECT s.contact_id, s.last_at, s.count, s.total
  FROM contact_event_stats AS s JOIN contacts AS c ON c.id = s.contact_id AND c.erased_at IS NULL
  WHERE s.type = 'conversion' AND s.count > 0
    AND NOT EXISTS (SELECT 1 FROM conversions AS v WHERE v.contact_id = s.contact_id)
), ranked AS (
  SELECT contact_id, last_at, frequency, monetary,
         PERCENT_RANK() OVER (ORDER BY last_at) AS r_pr,
         PERCENT_RANK() OVER (ORDER BY frequency) AS f_pr,
         PERCENT_RANK() OVER (ORDER BY monetary) AS m_pr
  FROM base
), scored AS (
  SELECT contact_id, frequency, monetary, {_QUINTILE.format(pr="r_pr")} AS r, {_QUINTILE.format(pr="f_pr")} AS f,
         {_QUINTILE.format(pr="m_pr")} AS m
  FROM ranked
)
SELECT contact_id, frequency, monetary, r, f, m, {SEGMENT_RULES} AS segment FROM scored
"""

UPDATE_SQL = {
    "sqlite": """UPDATE contacts SET attributes = json_set(COALESCE(contacts.attributes, '{}'),
                   '$.rfm_r', s.r, '$.rfm_f', s.f, '$.rfm_m', s.m, '$.rfm_segment', s.segment)
                 FROM rfm_scores AS s WHERE contacts.id = s.contact_id""",
    "postgresql": """UPDATE contacts SET attributes = COALESCE(contacts.attributes, '{}'::jsonb)
                   || jsonb_build_object('rfm_r', s.r, 'rfm_f', s.f, 'rfm_m', s.m, 'rfm_segment', s.segment)
                 FROM rfm_scores AS s WHERE contacts.id = s.contact_id""",
}

SUMMARY_SQL = """SELECT segment, COUNT(*), AVG(frequency), AVG(monetary), AVG(r), AVG(f), AVG(m)
                 FROM rfm_scores GROUP BY segment ORDER BY COUNT(*) DESC, segment"""


@dataclass(frozen=True)
class RfmGroup:
    """One RFM segment: how many customers, their average orders, spend and scores."""

    segment: str
    customers: int
    avg_orders: float
    avg_spend: float
    avg_r: float
    avg_f: float
    avg_m: float

    def as_dict(self) -> dict[str, Any]:
        return {key: round(value, 2) if isinstance(value, float) else value for key, value in self.__dict__.items()}


def compute_rfm(session: Session) -> list[RfmGroup]:
    """Score every contact with a purchase (conversions, else imported `conversion` events):
    `attributes.rfm_r/rfm_f/rfm_m` (1-5, 5 = best; ties share a score) and `attributes.rfm_segment` (champions,
    loyal, new_customers, at_risk, hibernating, ...). All in SQL; the caller commits."""
    dialect = session.get_bind().dialect.name
    session.execute(text("DROP TABLE IF EXISTS rfm_scores"))
    session.execute(text(SCORES_SQL).bindparams(bindparam("now", type_=UTCDateTime())), {"now": clock.now()})
    session.execute(text(UPDATE_SQL[dialect]))
    rows = session.execute(text(SUMMARY_SQL)).all()
    session.execute(text("DROP TABLE rfm_scores"))
    return [RfmGroup(str(row[0]), int(row[1]), float(row[2]), float(row[3]), float(row[4]), float(row[5]),
                     float(row[6])) for row in rows]
