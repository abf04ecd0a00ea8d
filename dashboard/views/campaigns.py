"""Campaigns: every campaign with its funnel, cost against budget, revenue and ROI; open one for its full report."""

from __future__ import annotations

from typing import Any

import streamlit as st

from dashboard import charts, data, widgets
from reports.money import MissingExchangeRate, cents
from reports.roi import CampaignROI


def campaign_row(row: CampaignROI, currency: str) -> dict[str, Any]:
    """One line of the campaigns table (money rounded to the cent, in the report currency)."""
    money, funnel = row.economics, row.funnel
    return {
        "campaign": row.name, "status": row.status, "channels": ", ".join(row.channels), "planned": funnel.planned,
        "sent": funnel.sent, "delivered": funnel.delivered, "opened": funnel.opened, "clicked": funnel.clicked,
        "converted": funnel.converted, f"cost ({currency})": cents(money.cost),
        f"budget ({currency})": cents(row.budget) if row.budget is not None else None,
        "budget used": row.budget_consumed, f"revenue ({currency})": cents(money.revenue), "ROI": money.roi,
        "CPA": cents(money.cost_per_acquisition) if money.cost_per_acquisition is not None else None,
        "CPL": cents(money.cost_per_lead) if money.cost_per_lead is not None else None,
    }


def render() -> None:
    st.title("Campaigns")
    settings = data.settings()
    model = widgets.model_picker("campaigns-model", settings.attribution_model)
    try:
        page = data.campaigns(data.url(), model)
    except (MissingExchangeRate, LookupError) as exc:
        widgets.report_error(exc)
        return
    if not page.rows:
        st.info("No campaign yet. Create one with `relance campaign create FILE` or from the Schedule page.")
        return
    currency = page.currency
    rows = [campaign_row(row, currency) for row in page.rows]
    table = widgets.frame(rows)
    widgets.table(table, "campaigns", column_config={
        "budget used": st.column_config.ProgressColumn("budget used", format="percent", min_value=0, max_value=1),
        "ROI": st.column_config.NumberColumn("ROI", format="percent"),
    })
    st.caption("ROI = (revenue − cost) / cost · CPA = cost per attributed conversion · CPL = cost per lead · "
               f"revenue credited by {page.model}; opens exclude machines.")
    money = widgets.frame([{"campaign": row.name, "cost": row.economics.cost, "revenue": row.economics.revenue}
                           for row in page.rows])
    st.altair_chart(charts.money_bars(money, "campaign", currency), width="stretch")
    chosen = st.selectbox("Open a campaign report", [row.name for row in page.rows], key="campaigns-open")
    if st.button("Open", key="campaigns-open-button", type="primary"):
        st.switch_page("views/campaign.py", query_params={"campaign": chosen})


render()
