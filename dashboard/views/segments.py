"""Segments: sizes now and over time (refresh snapshots), ROI of the campaigns sent to each, member preview."""

from __future__ import annotations

import streamlit as st

from dashboard import charts, data, widgets
from reports.money import MissingExchangeRate, cents


def render() -> None:
    st.title("Segments")
    settings = data.settings()
    try:
        page = data.segments(data.url(), settings.attribution_model)
    except (MissingExchangeRate, LookupError) as exc:
        widgets.report_error(exc)
        return
    if not page.segments:
        st.info("No segment yet: `relance segment create FILE`.")
        return
    widgets.table(widgets.frame(page.segments, ["name", "kind", "size", "refreshed_at", "description"]), "segments")
    names = [str(row["name"]) for row in page.segments]
    chosen = st.multiselect("Sizes over time", names, default=names[:5], key="segments-history")
    history = [row for row in page.history if row["segment"] in chosen]
    if history:
        st.altair_chart(charts.sizes_over_time(history), width="stretch")
        widgets.table(widgets.frame(history), "segment sizes")
    else:
        st.caption("No refresh recorded yet for these segments.")
    if page.economics:
        st.subheader("Campaigns by audience segment")
        currency = page.currency
        rows = [{"segment": name, "sent": money.sent, f"cost ({currency})": cents(money.cost),
                 f"revenue ({currency})": cents(money.revenue), "ROI": money.roi}
                for name, money in page.economics.items()]
        widgets.table(widgets.frame(rows), "segment roi",
                      column_config={"ROI": st.column_config.NumberColumn(format="percent")})
    st.subheader("Members")
    name = st.selectbox("Preview the first members of", names, key="segments-preview")
    try:
        members = data.segment_preview(data.url(), name)
    except (ValueError, LookupError) as exc:
        widgets.report_error(exc)
        return
    widgets.table(widgets.frame(members), f"members of {name}", key="csv-members")


render()
