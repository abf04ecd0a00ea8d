"""Rich rendering of `relance report campaign`: summary, funnel with denominators, A/B, channels, holdout, costs."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from reports.formatting import money, percent

FUNNEL_STEPS = ("audience", "excluded", "held_out", "planned", "sent", "delivered", "opened", "machine_opened",
                "clicked", "unsubscribed", "bounced", "complained", "leads", "converted")


def _unit(value: Any) -> str:
    """A unit cost: four decimals (an email costs fractions of a cent)."""
    return "—" if value is None else f"{Decimal(value):,.4f}"


def print_campaign(console: Console, report: dict[str, Any]) -> None:
    """Print every section of a campaign report (as produced by reports.export.campaign_dict)."""
    campaign, roi, currency = report["campaign"], report["roi"], report["currency"]
    console.rule(f"[bold]{escape(campaign['name'])}[/] — {campaign['status']}")
    console.print(
        f"channels {', '.join(campaign['channels'] or []) or '—'} · segment {escape(campaign['segment'] or '—')} · "
        f"holdout {campaign['holdout']:.0%} · attribution {report['attribution']['model']} over "
        f"{report['attribution']['window_days']:g} days · money in {currency}")
    console.print(
        f"cost [bold]{money(roi['cost'])}[/] (messages {money(roi['message_cost'])} + fixed "
        f"{money(roi['fixed_cost'])}) · revenue [bold]{money(roi['revenue'])}[/] · "
        f"ROI [bold]{percent(roi['roi'], 0)}[/] · CPA {money(roi['cost_per_acquisition'])} · "
        f"CPL {money(roi['cost_per_lead'])} · budget "
        f"{money(roi['budget'])} ({percent(roi['budget_consumed'], 0)} used)")
    _funnel(console, report["funnel"], report["by_channel"])
    _ab(console, report["ab_test"])
    _holdout(console, report["holdout"], currency)
    _costs(console, report["costs"], currency)
    models = "  ".join(f"{name} {money(value)}" for name, value in report["revenue_by_model"].items())
    console.print(f"Revenue by attribution model: {models}")


def _funnel(console: Console, funnel: dict[str, Any], by_channel: dict[str, dict[str, Any]]) -> None:
    table = Table(title="Funnel (messages)")
    table.add_column("step")
    table.add_column("all", justify="right")
    for channel in by_channel:
        table.add_column(channel, justify="right")
    for step in FUNNEL_STEPS:
        table.add_row(step.replace("_", " "), f"{funnel[step]:,}",
                      *(f"{values[step]:,}" for values in by_channel.values()))
    console.print(table)
    rates = Table(title="Rates (numerator / denominator)")
    for column in ("rate", "value", "of"):
        rates.add_column(column, justify="right" if column == "value" else "left")
    for name, rate in funnel["rates"].items():
        rates.add_row(name, percent(rate["value"]), rate["of"])
    console.print(rates)


def _ab(console: Console, test: dict[str, Any]) -> None:
    if len(test["variants"]) < 2:
        return
    table = Table(title=f"A/B test on {test['metric']} / {test['denominator']}")
    for column in ("variant", "sent", test["metric"], "rate", "P(best)", "p vs leader", "difference (95 % CI)"):
        table.add_column(column, justify="left" if column == "variant" else "right")
    for arm in test["variants"]:
        difference = arm["difference_vs_leader"]
        interval = (f"{difference['estimate'] * 100:+.1f} pts ({difference['low'] * 100:+.1f} to "
                    f"{difference['high'] * 100:+.1f})") if difference else "leader"
        star = " ★" if test["winner"] == arm["name"] else ""
        table.add_row(escape(arm["name"]) + star, f"{arm['sent']:,}", f"{arm['successes']:,}", percent(arm["rate"]),
                      percent(arm["probability_best"], 0),
                      f"{arm['p_value_vs_leader']:.4f}" if arm["p_value_vs_leader"] is not None else "—", interval)
    console.print(table)
    console.print(test["summary"])


def _holdout(console: Console, result: dict[str, Any] | None, currency: str) -> None:
    if result is None:
        return
    table = Table(title=f"Holdout ({result['since']:%Y-%m-%d} to {result['until']:%Y-%m-%d})")
    for column in ("group", "contacts", "converters", "conversion rate", f"revenue ({currency})", "per contact"):
        table.add_column(column, justify="left" if column == "group" else "right")
    for name in ("treated", "held_out"):
        arm = result[name]
        table.add_row(name.replace("_", " "), f"{arm['contacts']:,}", f"{arm['converters']:,}",
                      percent(arm["conversion_rate"], 2), money(arm["revenue"]), money(arm["revenue_per_contact"]))
    console.print(table)
    lift, uplift = result["lift"], result["uplift"]
    if uplift:
        console.print(f"uplift {uplift['estimate'] * 100:+.2f} pts (95 % CI {uplift['low'] * 100:+.2f} to "
                      f"{uplift['high'] * 100:+.2f}), p = {result['p_value']:.3f}")
    if lift:
        console.print(f"lift {lift['estimate']:+.0%} (95 % CI {lift['low']:+.0%} to {lift['high']:+.0%})")
    console.print(f"incremental revenue {money(result['incremental_revenue'])} {currency}, incremental ROI "
                  f"{percent(result['incremental_roi'], 0)} — {result['verdict']}")


def _costs(console: Console, lines: list[dict[str, Any]], currency: str) -> None:
    if not lines:
        return
    table = Table(title=f"Costs by channel, provider and country ({currency})")
    for column in ("channel", "provider", "country", "messages", "parts", "cost", "per message", "per part"):
        table.add_column(column, justify="right" if column in ("messages", "parts", "cost", "per message",
                                                                "per part") else "left")
    for line in lines:
        table.add_row(line["channel"], line["provider"] or "—", line["country"] or "—", f"{line['messages']:,}",
                      f"{line['parts']:,}", money(line["cost"]), _unit(line["per_message"]), _unit(line["per_part"]))
    console.print(table)
