"""One campaign: funnel chart and rates, variant comparison (A/B), holdout lift with its interval, timeline, costs."""

from __future__ import annotations

from typing import Any

import streamlit as st

from dashboard import charts, data, widgets
from reports.abtest import METRICS
from reports.money import MissingExchangeRate

FUNNEL = (("planned", "planned"), ("sent", "sent"), ("delivered", "delivered"), ("opened (human)", "opened"),
          ("clicked", "clicked"), ("converted", "converted"))


def _choose() -> str | None:
    names = data.campaign_names(data.url())
    if not names:
        st.info("No campaign yet.")
        return None
    wanted = st.query_params.get("campaign")
    index = names.index(wanted) if wanted in names else 0
    chosen = st.selectbox("Campaign", names, index=index, key="campaign-name")
    st.query_params["campaign"] = chosen
    return str(chosen)


def _headline(report: dict[str, Any]) -> None:
    roi, currency, campaign = report["roi"], report["currency"], report["campaign"]
    channels = ", ".join(campaign["channels"] or []) or "—"
    st.caption(f"**{campaign['name']}** · {campaign['status']} · channels {channels} · segment "
               f"{campaign['segment'] or '—'} · holdout {campaign['holdout']:.0%} · attribution "
               f"{report['attribution']['model']} over {report['attribution']['window_days']:g} days")
    columns = [*st.columns(3), *st.columns(3)]
    columns[0].metric("Cost", widgets.money(roi["cost"], currency),
                      help=f"messages {widgets.money(roi['message_cost'])} + fixed {widgets.money(roi['fixed_cost'])}")
    columns[1].metric("Revenue", widgets.money(roi["revenue"], currency))
    columns[2].metric("ROI", widgets.percent(roi["roi"], 0))
    columns[3].metric("Budget used", widgets.percent(roi["budget_consumed"], 0),
                      help=f"budget {widgets.money(roi['budget'], currency)}")
    columns[4].metric("Sent", widgets.number(roi["sent"]))
    columns[5].metric("CPA", widgets.money(roi["cost_per_acquisition"], currency))


def _funnel(report: dict[str, Any]) -> None:
    st.subheader("Funnel")
    funnel = report["funnel"]
    chart, rates = st.columns([3, 2])
    chart.altair_chart(charts.funnel([(label, funnel[key]) for label, key in FUNNEL]), width="stretch")
    with rates:
        rows = [{"rate": name, "value": rate["value"], "numerator / denominator": rate["of"]}
                for name, rate in funnel["rates"].items()]
        widgets.table(widgets.frame(rows), "rates", column_config={
            "value": st.column_config.NumberColumn("value", format="percent")})
    by_channel = [{"channel": channel, **{key: values[key] for _, key in FUNNEL},
                   "bounced": values["bounced"], "unsubscribed": values["unsubscribed"]}
                  for channel, values in report["by_channel"].items()]
    widgets.table(widgets.frame(by_channel), "funnel by channel")


def _variants(report: dict[str, Any]) -> None:
    test = report["ab_test"]
    st.subheader(f"Variants — {test['metric']} per message sent")
    if len(test["variants"]) < 2:
        st.caption("A single variant: nothing to compare.")
        return
    rows = [{"variant": arm["name"], "sent": arm["sent"], test["metric"]: arm["successes"], "rate": arm["rate"],
             "P(best)": arm["probability_best"], "p vs leader": arm["p_value_vs_leader"],
             "picked by the engine": arm["picked"]} for arm in test["variants"]]
    widgets.table(widgets.frame(rows), "variants", column_config={
        "rate": st.column_config.NumberColumn("rate", format="percent"),
        "P(best)": st.column_config.ProgressColumn("P(best)", format="percent", min_value=0, max_value=1)})
    differences = [{"variant": arm["name"], **arm["difference_vs_leader"]} for arm in test["variants"]
                   if arm["difference_vs_leader"]]
    if differences:
        st.altair_chart(charts.intervals(differences, "variant", "difference with the leader (95 % CI)"),
                        width="stretch")
    (st.success if test["winner"] else st.info)(test["summary"])


def _holdout(report: dict[str, Any]) -> None:
    result, currency = report["holdout"], report["currency"]
    if result is None:
        return
    st.subheader("Holdout: did the campaign cause anything?")
    rows = [{"group": name.replace("_", " "), "contacts": result[name]["contacts"],
             "converters": result[name]["converters"], "conversion rate": result[name]["conversion_rate"],
             f"revenue ({currency})": result[name]["revenue"],
             "revenue per contact": result[name]["revenue_per_contact"]} for name in ("treated", "held_out")]
    widgets.table(widgets.frame(rows), "holdout", column_config={
        "conversion rate": st.column_config.NumberColumn("conversion rate", format="percent")})
    columns = st.columns(4)
    lift, uplift = result["lift"], result["uplift"]
    columns[0].metric("Lift", widgets.percent(lift["estimate"], 0) if lift else "—",
                      help=f"95 % CI {widgets.percent(lift['low'], 0)} to {widgets.percent(lift['high'], 0)}"
                      if lift else "undefined until both groups convert")
    columns[1].metric("Uplift (points)", f"{uplift['estimate'] * 100:+.2f}" if uplift else "—")
    columns[2].metric("Incremental revenue", widgets.money(result["incremental_revenue"], currency))
    columns[3].metric("Incremental ROI", widgets.percent(result["incremental_roi"], 0))
    intervals = [{"measure": "conversion uplift", **uplift}] if uplift else []
    if lift:
        intervals.append({"measure": "relative lift", **lift})
    if intervals:
        st.altair_chart(charts.intervals(intervals, "measure", "95 % confidence interval"), width="stretch")
    (st.success if result["significant"] else st.warning)(result["verdict"])


def _rest(report: dict[str, Any]) -> None:
    st.subheader("Timeline of sends and responses")
    if report["timeline"]:
        st.altair_chart(charts.timeline(report["timeline"]), width="stretch")
        widgets.table(widgets.frame(report["timeline"]), "timeline")
    st.subheader("Costs by channel, provider and country")
    widgets.table(widgets.frame(report["costs"]), "costs")
    st.subheader("Revenue under each attribution model")
    widgets.table(widgets.frame([{"model": name, "revenue": value}
                                 for name, value in report["revenue_by_model"].items()]), "attribution models")


def render() -> None:
    st.title("Campaign report")
    name = _choose()
    if name is None:
        return
    settings = data.settings()
    left, right = st.columns(2)
    with left:
        model = widgets.model_picker("campaign-model", settings.attribution_model)
    with right:
        metric = st.selectbox("A/B metric", METRICS, index=METRICS.index("clicked"), key="campaign-metric")
    try:
        report = data.campaign(data.url(), name, model, metric)
    except (MissingExchangeRate, LookupError) as exc:
        widgets.report_error(exc)
        return
    _headline(report)
    _funnel(report)
    _variants(report)
    _holdout(report)
    _rest(report)


render()
