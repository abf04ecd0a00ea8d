"""Overview: spend, revenue, ROI, contacts and reachability over a period, daily trends, the PDF report."""

from __future__ import annotations

from datetime import date

import streamlit as st

from dashboard import charts, data, widgets
from reports.money import MissingExchangeRate


def _headline(page: data.loaders.OverviewData) -> None:
    headline, currency = page.headline, page.currency
    first = st.columns(4)
    first[0].metric("Spend", widgets.money(headline.spend, currency), help="Messages sent + fixed costs incurred.")
    first[1].metric("Attributed revenue", widgets.money(headline.attributed_revenue, currency),
                    help="Revenue credited to campaigns by the attribution model.")
    first[2].metric("ROI", widgets.percent(headline.roi, 0), help="(attributed revenue − spend) / spend")
    first[3].metric("All revenue", widgets.money(headline.revenue, currency),
                    help="Every conversion, attributed or not.")
    second = st.columns(4)
    second[0].metric("Conversions", widgets.number(headline.conversions))
    second[1].metric("Messages sent", widgets.number(headline.messages_sent))
    second[2].metric("Contacts", widgets.number(page.contacts["contacts"]))
    second[3].metric("New contacts", widgets.number(page.contacts["new"]))


def _reachability(page: data.loaders.OverviewData) -> None:
    st.subheader("Reachability")
    rows = [{"channel": reach.channel, "with address": reach.with_address, "valid": reach.valid,
             "unknown": reach.unknown, "invalid": reach.invalid, "consent granted": reach.consented}
            for reach in page.reach]
    widgets.table(widgets.frame(rows), "reachability")


def _pdf(start: date, end: date, model: str) -> None:
    st.subheader("PDF report")
    if st.button("Prepare the PDF report of this period", key="prepare-pdf"):
        st.session_state["overview-pdf"] = data.pdf_report(data.url(), start, end, model)
    if st.session_state.get("overview-pdf"):
        st.download_button("Download the PDF report", st.session_state["overview-pdf"], file_name="relance-report.pdf",
                           mime="application/pdf", key="download-pdf", type="primary")


def render() -> None:
    st.title("Overview")
    settings = data.settings()
    left, right = st.columns([2, 1])
    with left:
        start, end = widgets.period_picker("overview-period")
    with right:
        model = widgets.model_picker("overview-model", settings.attribution_model)
    try:
        page = data.overview(data.url(), start, end, model)
    except (MissingExchangeRate, LookupError) as exc:
        widgets.report_error(exc)
        return
    _headline(page)
    st.subheader("Trends")
    if page.trends:
        money, volume = st.columns(2)
        money.altair_chart(charts.trends(page.trends, ["spend", "revenue"], page.currency), width="stretch")
        volume.altair_chart(charts.trends(page.trends, ["sent", "conversions"], "per day"), width="stretch")
        widgets.table(widgets.frame(page.trends), "daily trends")
    else:
        st.info("Nothing was sent, spent or earned in this period.")
    _reachability(page)
    _pdf(start, end, model)


render()
