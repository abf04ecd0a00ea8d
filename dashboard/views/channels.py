"""Channels: email, SMS and letters side by side — funnel, rates, message cost, attributed revenue and ROI."""

from __future__ import annotations

import streamlit as st

from dashboard import charts, data, widgets
from reports.money import MissingExchangeRate, cents


def render() -> None:
    st.title("Channels")
    settings = data.settings()
    left, right = st.columns([2, 1])
    with left:
        start, end = widgets.period_picker("channels-period", default_days=90)
    with right:
        model = widgets.model_picker("channels-model", settings.attribution_model)
    try:
        page = data.channels(data.url(), start, end, model)
    except (MissingExchangeRate, LookupError) as exc:
        widgets.report_error(exc)
        return
    if not page.economics and not page.funnels:
        st.info("No message in this period.")
        return
    currency = page.currency
    rows = []
    for channel in sorted({*page.economics, *page.funnels}):
        money, funnel = page.economics.get(channel), page.funnels.get(channel)
        rates = {rate.name: rate.value for rate in funnel.rates()} if funnel else {}
        rows.append({
            "channel": channel, "sent": funnel.sent if funnel else 0, "delivered": funnel.delivered if funnel else 0,
            "delivery rate": rates.get("delivery rate"), "click rate": rates.get("click rate"),
            "conversion rate": rates.get("conversion rate"), "converted": funnel.converted if funnel else 0,
            f"message cost ({currency})": cents(money.message_cost) if money else 0,
            f"revenue ({currency})": cents(money.revenue) if money else 0,
            "ROI on message cost": money.roi if money else None,
        })
    percent = st.column_config.NumberColumn(format="percent")
    widgets.table(widgets.frame(rows), "channels", column_config={
        "delivery rate": percent, "click rate": percent, "conversion rate": percent, "ROI on message cost": percent})
    st.caption("Rates: delivered / sent, clicked / delivered, converted / sent. Fixed costs belong to campaigns "
               "(see Campaigns), so channel ROI is on message costs only.")
    money_rows = [{"channel": channel, "cost": value.message_cost, "revenue": value.revenue}
                  for channel, value in page.economics.items()]
    if money_rows:
        st.altair_chart(charts.money_bars(widgets.frame(money_rows), "channel", currency), width="stretch")
    funnel_rows = [{"channel": channel, "step": step, "messages": getattr(funnel, step)}
                   for channel, funnel in page.funnels.items() for step in funnel.STEPS]
    widgets.table(widgets.frame(funnel_rows), "funnel by channel")


render()
