"""Reports as plain data: JSON-ready dicts of a campaign report and CSV of the ROI table."""

from __future__ import annotations

import csv
import io
from dataclasses import asdict
from decimal import Decimal
from typing import Any

from reports.abtest import ABTest
from reports.holdout import Incrementality
from reports.money import cents
from reports.service import CampaignReport
from reports.stats import Interval

ROI_COLUMNS = ("campaign", "status", "channels", "currency", "sent", "message_cost", "fixed_cost", "cost", "revenue",
               "conversions", "leads", "roi", "cost_per_lead", "cost_per_acquisition", "budget", "budget_consumed",
               "kind")


def roi_csv(report: dict[str, Any]) -> str:
    """The ROI table as CSV (one row per campaign, then one per journey, told apart by `kind`): amounts to the
    cent, ratios as decimals (0.25 = 25 %)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=ROI_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    rows = [{**row, "kind": "campaign"} for row in report["campaigns"]]
    rows += [{**row, "campaign": row["journey"], "kind": "journey"} for row in report.get("journeys", [])]
    for row in rows:
        writer.writerow({key: _cell(key, row.get(key)) for key in ROI_COLUMNS})
    return buffer.getvalue()


RATIOS = ("roi", "budget_consumed", "conversions")


def _cell(name: str, value: Any) -> Any:
    """Amounts as they are (already to the cent), ratios and fractional credits to 4 decimals, lists joined."""
    if isinstance(value, list):
        return "+".join(str(item) for item in value)
    if isinstance(value, Decimal) and name in RATIOS:
        return str(value.quantize(Decimal("0.0001")))
    return "" if value is None else value


def _interval(value: Interval | None) -> dict[str, float] | None:
    return {"estimate": value.estimate, "low": value.low, "high": value.high} if value else None


def holdout_dict(result: Incrementality | None) -> dict[str, Any] | None:
    """The holdout comparison as plain data."""
    if result is None:
        return None
    arms = {name: {**asdict(arm), "revenue": cents(arm.revenue), "conversion_rate": arm.conversion_rate,
                   "revenue_per_contact": arm.revenue_per_contact}
            for name, arm in (("treated", result.treated), ("held_out", result.held_out))}
    for arm in arms.values():
        arm.pop("revenue_squares", None)
    return {
        "since": result.since, "until": result.until, **arms, "uplift": _interval(result.uplift),
        "lift": _interval(result.lift), "p_value": result.p_value, "significant": result.significant,
        "incremental_conversions": result.incremental_conversions,
        "incremental_revenue": cents(result.incremental_revenue) if result.incremental_revenue is not None else None,
        "incremental_revenue_interval": _interval(result.incremental_revenue_interval),
        "cost": cents(result.cost), "incremental_roi": result.incremental_roi, "verdict": result.verdict(),
    }


def ab_dict(test: ABTest) -> dict[str, Any]:
    """The A/B comparison as plain data."""
    return {
        "metric": test.metric, "denominator": test.denominator, "winner": test.winner, "alpha": test.alpha,
        "summary": test.summary(),
        "variants": [{"name": arm.name, "sent": arm.sent, "successes": arm.successes, "rate": arm.rate,
                      "probability_best": arm.probability_best, "p_value_vs_leader": arm.p_value_vs_leader,
                      "difference_vs_leader": _interval(arm.difference_vs_leader), "picked": arm.picked,
                      "funnel": arm.funnel.as_dict()} for arm in test.variants],
    }


def campaign_dict(report: CampaignReport) -> dict[str, Any]:
    """The whole campaign report as plain data (money rounded to the cent, in the report currency)."""
    campaign = report.campaign
    return {
        "campaign": {"id": campaign.id, "name": campaign.name, "status": campaign.status,
                     "channels": campaign.channels, "segment": report.segment, "holdout": campaign.holdout,
                     "scheduled_at": campaign.scheduled_at, "started_at": campaign.started_at,
                     "completed_at": campaign.completed_at},
        "currency": report.currency, "attribution": asdict(report.rules),
        "roi": report.roi.as_dict(report.currency),
        "funnel": report.roi.funnel.as_dict(),
        "by_variant": {name: funnel.as_dict() for name, funnel in report.by_variant.items()},
        "by_channel": {name: funnel.as_dict() for name, funnel in report.by_channel.items()},
        "ab_test": ab_dict(report.ab), "holdout": holdout_dict(report.holdout),
        "costs": [{"channel": line.channel, "provider": line.provider, "country": line.country,
                   "messages": line.messages, "parts": line.parts, "cost": cents(line.cost),
                   "per_message": line.per_message, "per_part": line.per_part} for line in report.costs],
        "revenue_by_model": {name: cents(value) for name, value in report.models.items()},
        "timeline": report.timeline,
    }
