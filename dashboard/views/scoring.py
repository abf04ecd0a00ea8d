"""Lead scoring: score distributions, the active model's honest metrics and lift chart, the hottest leads and why."""

from __future__ import annotations

from typing import Any

import streamlit as st

from dashboard import charts, data, widgets


def _model(model: dict[str, Any] | None) -> None:
    st.subheader("Predictive model")
    if model is None:
        st.info("No active model yet: `relance score train`.")
        return
    metrics = model["metrics"] or {}
    st.caption(f"version {model['version']} · {model['kind']} · trained {model['created_at']:%Y-%m-%d %H:%M} UTC · "
               "metrics from out-of-fold predictions (never the training rows)")
    columns = st.columns(4)
    columns[0].metric("ROC AUC", f"{metrics.get('roc_auc', 0):.3f}")
    columns[1].metric("PR AUC", f"{metrics.get('pr_auc', 0):.3f}", help=f"base rate {metrics.get('base_rate', 0):.1%}")
    columns[2].metric("Brier", f"{metrics.get('brier', 0):.4f}", help=f"skill {metrics.get('brier_skill', 0):.1%}")
    capture = metrics.get("deciles", [{}] * 2)[1].get("capture") if len(metrics.get("deciles", [])) > 1 else None
    columns[3].metric("Top 20 % captures", widgets.percent(capture, 0))
    if metrics.get("deciles"):
        st.altair_chart(charts.lift_chart(metrics["deciles"]), width="stretch")
        widgets.table(widgets.frame(metrics["deciles"]), "lift by decile")


def render() -> None:
    st.title("Lead scoring")
    page = data.scoring(data.url())
    scores, probabilities = st.columns(2)
    with scores:
        st.subheader("Rule scores")
        frame = widgets.frame(page.scores)
        if not frame.empty:
            st.altair_chart(charts.histogram(frame, "band", "contacts", "rule score"), width="stretch")
        widgets.table(frame, "score distribution")
    with probabilities:
        st.subheader("Predicted probability")
        frame = widgets.frame(page.probabilities)
        if not frame.empty:
            st.altair_chart(charts.histogram(frame, "range", "contacts", "probability to convert"), width="stretch")
        grades = [{"grade": grade, "contacts": count} for grade, count in sorted(page.grades.items())]
        widgets.table(widgets.frame(grades), "grades")
    _model(page.model)
    st.subheader("Hottest leads")
    widgets.table(widgets.frame(page.hottest), "hottest leads", column_config={
        "predicted_score": st.column_config.NumberColumn("probability", format="percent"),
        "reasons": st.column_config.TextColumn("why", width="large")})


render()
