"""RFM scoring in SQL: recency, frequency and monetary quintiles of customers, written as contact attributes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.orm import Session

from core import clock
from core.models import UTCDateTime

# Quintile from cume_dist(): ties share a score (NTILE would split equal customers across quintiles).
_QUINTILE = (
    "CASE WHEN {cd} <= 0.2 THEN 1 WHEN {cd} <= 0.4 THEN 2 WHEN {cd} <= 0.6 THEN 3 WHEN {cd} <= 0.8 THEN 4 ELSE 5 END"
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

SCORES_SQL = f"""
CREATE TEMPORARY TABLE rfm_scores AS
WITH base AS (
  SELECT contact_id, MAX(occurred_at) AS last_at, COUNT(*) AS frequency, SUM(amount) AS monetary
  FROM conversions WHERE contact_id IS NOT NULL AND occurred_at <= :now GROUP BY contact_id
), ranked AS (
  SELECT contact_id, last_at, frequency, monetary,
         CUME_DIST() OVER (ORDER BY last_at) AS r_cd,
         CUME_DIST() OVER (ORDER BY frequency) AS f_cd,
         CUME_DIST() OVER (ORDER BY monetary) AS m_cd
  FROM base
), scored AS (
  SELECT contact_id, frequency, monetary, {_QUINTILE.format(cd="r_cd")} AS r, {_QUINTILE.format(cd="f_cd")} AS f,
         {_QUINTILE.format(cd="m_cd")} AS m
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
    """Score every contact with a conversion: `attributes.rfm_r/rfm_f/rfm_m` (1-5, 5 = best) and
    `attributes.rfm_segment` (champions, loyal, at_risk, hibernating, ...). All in SQL; the caller commits."""
    dialect = session.get_bind().dialect.name
    session.execute(text("DROP TABLE IF EXISTS rfm_scores"))
    session.execute(text(SCORES_SQL).bindparams(bindparam("now", type_=UTCDateTime())), {"now": clock.now()})
    session.execute(text(UPDATE_SQL[dialect]))
    rows = session.execute(text(SUMMARY_SQL)).all()
    session.execute(text("DROP TABLE rfm_scores"))
    return [RfmGroup(str(row[0]), int(row[1]), float(row[2]), float(row[3]), float(row[4]), float(row[5]),
                     float(row[6])) for row in rows]
