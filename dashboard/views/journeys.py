"""Journeys: the steps as a flow diagram with counts on each edge, the status per step, conversion per step,
messages per channel, money and holdout lift; marketers pause and resume here, viewers only read."""

from __future__ import annotations

from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from core.db import session_scope
from dashboard import charts, data, widgets
from dashboard.auth import current_user
from dashboard.loaders import JourneyData
from journeys.service import JourneyStateError, get_journey, pause_journey, resume_journey
from reports.money import MissingExchangeRate


def _choose() -> str | None:
    names = data.journey_names(data.url())
    if not names:
        st.info("No journey yet. Write one (examples/journeys/*.yaml), then `relance journey create FILE` and "
                "`relance journey publish NAME`.")
        return None
    wanted = st.query_params.get("journey")
    chosen = st.selectbox("Journey", names, index=names.index(wanted) if wanted in names else 0, key="journey-name")
    st.query_params["journey"] = chosen
    return str(chosen)


def _headline(page: JourneyData) -> None:
    status, roi, currency = page.status, page.roi, page.currency
    version = f"v{status.version}" if status.version else "draft"
    st.caption(f"**{status.journey}** · {status.status} · {version} of {status.versions}"
               + (f" · {status.reason}" if status.reason else ""))
    columns = [*st.columns(4), *st.columns(4)]
    columns[0].metric("Enrolled", widgets.number(status.enrolled), help=f"{status.held_out:,} held out")
    columns[1].metric("Active", widgets.number(status.active))
    columns[2].metric("Converted (goal)", widgets.number(status.converted))
    columns[3].metric("Exited", widgets.number(status.finished.get("exited", 0)),
                      help=", ".join(f"{count:,} {reason}" for reason, count in status.exit_reasons.items()) or None)
    columns[4].metric("Cost", widgets.money(roi.economics.cost if roi else status.cost, currency))
    columns[5].metric("Revenue (attributed)", widgets.money(roi.economics.revenue if roi else 0, currency))
    columns[6].metric("ROI", widgets.percent(roi.economics.roi if roi else None, 0))
    lift = roi.holdout if roi else None
    uplift = lift.uplift if lift is not None else None
    columns[7].metric("Holdout lift", f"{uplift.estimate * 100:+.1f} pts" if uplift else "—",
                      help=(f"95 % CI {uplift.low * 100:+.1f} to {uplift.high * 100:+.1f} pts — {lift.verdict()}"
                            if lift is not None and uplift is not None else "no holdout or not enough data"))


def _steps_table(page: JourneyData) -> None:
    rows = [{"step": row.step, "kind": row.kind, "waiting": row.waiting, "passed": row.passed, "sent": row.sent,
             "failed": row.failed, "excluded": row.excluded, "held out": row.held_out, "goal here": row.converted,
             "exited here": sum(row.exited.values()), "converted later": row.conversion_rate}
            for row in page.status.steps]
    widgets.table(widgets.frame(rows), "journey steps", column_config={
        "converted later": st.column_config.ProgressColumn("converted later", format="percent", min_value=0,
                                                           max_value=1)})


def _charts(page: JourneyData) -> None:
    left, right = st.columns(2)
    conversion = pd.DataFrame([{"step": row.step, "rate": row.conversion_rate or 0.0, "order": index}
                               for index, row in enumerate(page.status.steps)])
    left.caption("Conversion per step — of the enrollments that passed a step, the share that met the goal")
    top = max(float(conversion["rate"].max()), 0.05)
    left.altair_chart(alt.Chart(conversion).mark_bar(color=charts.GREEN).encode(
        y=alt.Y("step:N", sort=alt.SortField("order"), title=None),
        x=alt.X("rate:Q", axis=alt.Axis(format=".0%"), scale=alt.Scale(domain=[0, top]), title="converted later"),
        tooltip=["step", alt.Tooltip("rate:Q", format=".1%")]), width="stretch")
    channels = pd.DataFrame([{"step": row.step, "channel": channel, "messages": count}
                             for row in page.status.steps for channel, count in row.sent_by_channel.items()],
                            columns=["step", "channel", "messages"])
    right.caption("Messages sent per step and channel")
    right.altair_chart(alt.Chart(channels).mark_bar().encode(
        y=alt.Y("step:N", title=None), x=alt.X("messages:Q", title="messages", axis=alt.Axis(tickMinStep=1,
                                                                                               format="d")),
        color=alt.Color("channel:N", title=None), tooltip=["step", "channel", alt.Tooltip("messages:Q", format=",")]),
        width="stretch")


def _controls(page: JourneyData) -> None:
    user = current_user()
    status = page.status.status
    if user is None or not user.may_schedule:
        st.caption("Viewers read journeys; marketers and admins pause and resume them.")
        return
    action: Any = None
    if status == "live" and st.button("Pause this journey", key="journey-pause", icon=":material/pause:"):
        action = pause_journey
    if status == "paused" and st.button("Resume this journey", key="journey-resume", type="primary",
                                        icon=":material/play_arrow:"):
        action = resume_journey
    if action is None:
        return
    try:
        with session_scope(data.engine()) as session:
            if action is pause_journey:
                pause_journey(session, get_journey(session, page.status.journey), f"paused by {user.username}",
                              actor=user.username)
            else:
                resume_journey(session, get_journey(session, page.status.journey), actor=user.username)
    except JourneyStateError as exc:
        widgets.report_error(exc)
        return
    st.cache_data.clear()
    st.rerun()


def render() -> None:
    st.title("Journeys")
    name = _choose()
    if name is None:
        return
    model = widgets.model_picker("journeys-model", data.settings().attribution_model)
    try:
        page = data.journey(data.url(), name, model)
    except (MissingExchangeRate, LookupError) as exc:
        widgets.report_error(exc)
        return
    _headline(page)
    _controls(page)
    st.subheader("Flow")
    st.graphviz_chart(page.diagram, width="stretch")
    st.caption("Each edge carries how many enrollments took it; goal and exits are the ways out.")
    st.subheader("Steps")
    _steps_table(page)
    _charts(page)


render()
