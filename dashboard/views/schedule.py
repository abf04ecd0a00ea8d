"""Schedule (admins and marketers): pick segment, channels, templates and time, see the plan, schedule the campaign."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import streamlit as st

from campaigns.definition import CampaignDefinitionError
from campaigns.service import CampaignStateError
from core import clock
from core.db import session_scope
from dashboard import data, widgets
from dashboard.auth import current_user
from dashboard.scheduling import ScheduleRequest, preview, schedule, templates_by_channel
from segments.service import list_segments
from templates.errors import TemplateError

CHANNELS = ("email", "sms", "mail")
PROBLEMS = (CampaignDefinitionError, CampaignStateError, TemplateError, ValueError, LookupError)


def _options() -> tuple[list[str], dict[str, list[str]]]:
    with session_scope(data.engine()) as session:
        return [segment.name for segment in list_segments(session)], templates_by_channel(session)


def _arm(label: str, channels: list[str], templates: dict[str, list[str]]) -> dict[str, str]:
    chosen = {}
    for channel in channels:
        names = templates.get(channel, [])
        if names:
            chosen[channel] = str(st.selectbox(f"{label} — {channel} template", names,
                                               key=f"schedule-{label}-{channel}"))
    return chosen


def _form(segments: list[str], templates: dict[str, list[str]]) -> ScheduleRequest | None:
    settings = data.settings()
    name = st.text_input("Campaign name", key="schedule-name", placeholder="spring-sale-2027")
    segment = st.selectbox("Segment", segments, key="schedule-segment")
    channels = st.multiselect("Channels (in fallback order)", CHANNELS, default=["email"], key="schedule-channels")
    variants = {"A": _arm("A", channels, templates)}
    if st.toggle("A/B test with a second variant", key="schedule-ab"):
        variants["B"] = _arm("B", channels, templates)
    zone = ZoneInfo(settings.default_timezone)
    tomorrow = (clock.now().astimezone(zone) + timedelta(days=1)).date()
    day, moment = st.columns(2)
    on = day.date_input("Day", value=tomorrow, key="schedule-day")
    at = moment.time_input("Time", value=time(9, 0), key="schedule-time", step=timedelta(minutes=15))
    holdout = st.slider("Holdout (control group receiving nothing)", 0, 50, 10, step=5, format="%d %%",
                        key="schedule-holdout")
    budget = st.number_input(f"Budget ({settings.report_currency}, 0 = none)", min_value=0.0, value=0.0, step=50.0,
                             key="schedule-budget")
    if not (name.strip() and segment and channels):
        st.caption("Name the campaign and choose a segment and at least one channel.")
        return None
    if any(set(arm) != set(channels) for arm in variants.values()):
        st.warning("Each variant needs a template for every channel chosen (no template for that channel yet).")
        return None
    return ScheduleRequest(name=name, segment=str(segment), channels=list(channels), variants=variants,
                           at=datetime.combine(on, at, tzinfo=zone), holdout=holdout / 100,
                           budget=Decimal(str(budget)) if budget else None, currency=settings.report_currency)


def _show_plan(plan: dict[str, Any]) -> None:
    st.subheader("The plan")
    currency = plan["currency"]
    columns = st.columns(5)
    columns[0].metric("Audience", widgets.number(plan["audience"]))
    columns[1].metric("To send", widgets.number(plan["to_send"]))
    columns[2].metric("Held out", widgets.number(plan["held_out"]))
    columns[3].metric("Excluded", widgets.number(sum(plan["excluded"].values())))
    columns[4].metric("Estimated cost", widgets.money(Decimal(plan["estimated_cost"]) + Decimal(plan["fixed_cost"]),
                                                      currency))
    if plan["over_budget"]:
        st.error(f"The estimated cost is over the budget of {widgets.money(plan['budget'], currency)}.")
    left, middle, right = st.columns(3)
    with left:
        widgets.table(widgets.frame([{"reason": key, "contacts": value} for key, value in plan["excluded"].items()],
                                    ["reason", "contacts"]), "exclusions")
    with middle:
        widgets.table(widgets.frame([{"channel": key, "messages": value} for key, value in plan["per_channel"].items()],
                                    ["channel", "messages"]), "per channel")
    with right:
        widgets.table(widgets.frame([{"variant": key, "messages": value} for key, value in plan["per_variant"].items()],
                                    ["variant", "messages"]), "per variant")
    if plan["first_send_at"]:
        st.caption(f"First send {plan['first_send_at']:%Y-%m-%d %H:%M} UTC, last {plan['last_send_at']:%Y-%m-%d %H:%M}"
                   f" UTC; {plan['deferred_by_quiet_hours']} deferred by quiet hours.")
    if plan["samples"]:
        widgets.table(widgets.frame(plan["samples"]), "sample renders")


def render() -> None:
    st.title("Schedule a campaign")
    user = current_user()
    if user is None or not user.may_schedule:
        st.error("Only admins and marketers may schedule campaigns.")
        return
    segments, templates = _options()
    if not segments:
        st.info("No segment yet: create one first (`relance segment create FILE`).")
        return
    request = _form(segments, templates)
    if request is None:
        return
    if st.button("Preview the plan", key="schedule-preview"):
        try:
            with session_scope(data.engine()) as session:
                st.session_state["schedule-plan"] = (request, preview(session, data.settings(), request))
        except PROBLEMS as exc:
            st.session_state.pop("schedule-plan", None)
            widgets.report_error(exc)
    planned = st.session_state.get("schedule-plan")
    if not planned or planned[0] != request:
        return
    _show_plan(planned[1])
    if st.button(f"Schedule for {request.at:%Y-%m-%d %H:%M %Z}", key="schedule-confirm", type="primary"):
        try:
            with session_scope(data.engine()) as session:
                done = schedule(session, request, actor=user.username)
        except PROBLEMS as exc:
            widgets.report_error(exc)
            return
        st.session_state.pop("schedule-plan", None)
        st.cache_data.clear()
        st.success(f"Campaign {done['campaign']} scheduled for {done['scheduled_at']:%Y-%m-%d %H:%M} UTC.")


render()
