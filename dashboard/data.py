"""The dashboard's access to data: one engine per database, and the page loaders cached with a time to live."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import date
from typing import Any, TypeVar

import streamlit as st
from sqlalchemy import Engine

from core.db import make_engine, session_scope
from core.settings import Settings, get_settings
from dashboard import loaders
from reports.caches.engagement import backlog, cache_window, refresh

T = TypeVar("T")
TTL = 60  # seconds: figures are at most a minute old, and a page reload costs nothing in between
BUILD_NOTICE = 20_000  # sent messages missing from the report caches from which a page says it builds them
CHECK_EVERY = 60.0  # seconds between two looks at that backlog (two index-only counts)


def settings() -> Settings:
    """The dashboard's settings (RELANCE_* environment, as `relance dashboard` passes it)."""
    return get_settings()


@st.cache_resource(show_spinner=False)
def _engine(url: str) -> Engine:
    return make_engine(url)


def engine() -> Engine:
    return _engine(settings().database_url)


def _read(loader: Callable[..., T], *args: Any) -> T:
    with session_scope(engine()) as session:
        return loader(session, *args)


@st.cache_resource(show_spinner=False)
def _checked(url: str) -> dict[str, float]:
    return {"at": 0.0}


def prepare_caches() -> None:
    """Before a page reads: when many sent messages are not in the report caches yet (the first load after an
    upgrade, a very large send), build them under a visible status instead of letting a page hang silently."""
    checked = _checked(url())
    if time.monotonic() - checked["at"] < CHECK_EVERY:
        return
    window = settings().attribution_window_days
    with session_scope(engine()) as session:
        pending, built_for = backlog(session), cache_window(session)
    if pending >= BUILD_NOTICE:
        _build(f"Summarising {pending:,} sent messages for the reports — the first load after an upgrade or a very "
               "large send; pages are fast again afterwards…")
    elif built_for is not None and round(built_for * 86_400_000) != round(window * 86_400_000):
        _build(f"The attribution window changed ({built_for:g} → {window:g} days): summing the responses and "
               "touches again for it…")
    checked["at"] = time.monotonic()


def _build(label: str) -> None:
    with st.status(label, expanded=True) as status:
        st.write("Reading the send ledger, every response on the timeline and the conversions once, into the "
                 "report caches (`relance report refresh` does the same from the command line).")
        started = time.perf_counter()
        with session_scope(engine()) as session:
            done = refresh(session, settings().attribution_window_days)
        seconds = time.perf_counter() - started
        if done.skipped:
            status.update(label="Another process is building the report caches: figures stay incomplete until it "
                                "is done (reload in a minute).", state="error", expanded=False)
        else:
            status.update(label=f"Report caches ready in {seconds:.0f} s: {done.new_messages:,} sent messages added, "
                                f"summed for a {done.window_days:g}-day attribution window.", state="complete",
                          expanded=False)
    st.cache_data.clear()  # figures computed before the build are stale


# Every cached function takes the database URL first, so two databases never share a cache entry.


@st.cache_data(ttl=TTL, show_spinner="Computing the overview…")
def overview(url: str, start: date, end: date, model: str | None) -> loaders.OverviewData:
    return _read(loaders.overview_page, settings(), start, end, model)


@st.cache_data(ttl=TTL, show_spinner="Computing campaign ROI…")
def campaigns(url: str, model: str | None) -> loaders.CampaignsData:
    return _read(loaders.campaigns_page, settings(), model)


@st.cache_data(ttl=TTL, show_spinner=False)
def campaign_names(url: str) -> list[str]:
    return _read(loaders.campaign_names)


@st.cache_data(ttl=TTL, show_spinner="Computing the campaign report…")
def campaign(url: str, name: str, model: str | None, metric: str) -> dict[str, Any]:
    return _read(loaders.campaign_page, settings(), name, model, metric)


@st.cache_data(ttl=TTL, show_spinner="Computing channels…")
def channels(url: str, start: date, end: date, model: str | None) -> loaders.ChannelsData:
    return _read(loaders.channels_page, settings(), start, end, model)


@st.cache_data(ttl=TTL, show_spinner="Reading segments…")
def segments(url: str, model: str | None) -> loaders.SegmentsData:
    return _read(loaders.segments_page, settings(), model)


@st.cache_data(ttl=TTL, show_spinner="Previewing members…")
def segment_preview(url: str, name: str) -> list[dict[str, Any]]:
    return _read(loaders.segment_preview, name)


@st.cache_data(ttl=TTL, show_spinner="Reading scores…")
def scoring(url: str) -> loaders.ScoringData:
    return _read(loaders.scoring_page)


@st.cache_data(ttl=10, show_spinner=False)
def contact_search(url: str, text: str) -> list[dict[str, Any]]:
    return _read(loaders.contact_search, text)


@st.cache_data(ttl=10, show_spinner=False)
def contact(url: str, contact_id: int) -> dict[str, Any] | None:
    return _read(loaders.contact_page, contact_id)


@st.cache_data(ttl=TTL, show_spinner=False)
def journey_names(url: str) -> list[str]:
    return _read(loaders.journey_names)


@st.cache_data(ttl=TTL, show_spinner="Reading the journey…")
def journey(url: str, name: str, model: str | None) -> loaders.JourneyData:
    return _read(loaders.journey_page, settings(), name, model)


def url() -> str:
    """The database URL, the first argument of every cached call."""
    return settings().database_url


@st.cache_data(ttl=300, show_spinner="Drawing the PDF report…")
def pdf_report(url: str, start: date, end: date, model: str | None) -> bytes:
    """The PDF report of the period (the same one `relance report pdf` writes)."""
    from reports.overview import day_range
    from reports.pdf import gather, render_pdf

    with session_scope(engine()) as session:
        report = gather(session, settings(), day_range(start, end), model=model)
    return render_pdf(report)


@st.cache_data(ttl=TTL, show_spinner=False)
def survey_names(url: str) -> list[str]:
    return _read(loaders.survey_names)


@st.cache_data(ttl=TTL, show_spinner="Computing survey results…")
def survey(url: str, name: str, segment: str | None, since: date | None, language: str) -> Any:
    return _read(loaders.survey_page, name, segment, since, language)
