"""Prefect flows of the reports: the response cache kept warm; the weekly PDF emailed to RELANCE_REPORT_RECIPIENTS."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from prefect import flow, task

from connectors.registry import get_backend
from core.db import session_scope, shared_engine
from core.settings import get_settings
from reports.caches.engagement import rebuild, refresh
from reports.mailing import report_messages, send_report
from reports.pdf import weekly_pdf


@task(retries=2, retry_delay_seconds=60)
def build_report(days: int) -> tuple[bytes, dict[str, Any], list[Any]]:
    """The PDF of the last `days` full days, a one-line summary, and the messages to send."""
    settings = get_settings()
    with session_scope(shared_engine(settings.database_url)) as session:
        pdf, data = weekly_pdf(session, settings, days=days)
    summary = {"campaigns": len(data.campaigns), "spend": str(data.headline.spend),
               "revenue": str(data.headline.attributed_revenue), "bytes": len(pdf)}
    return pdf, summary, report_messages(pdf, data, settings.report_recipients, settings)


@task(retries=3, retry_delay_seconds=300)
def email_report(messages: list[Any]) -> list[dict[str, Any]]:
    """Send through the configured email backend; a provider's "retry later" retries the task."""
    backend = get_backend("email", get_settings())
    try:
        return [asdict(delivery) for delivery in send_report(backend, messages)]
    finally:
        backend.close()


@flow(name="refresh-report-cache", log_prints=True)
def refresh_report_cache(full: bool = False) -> dict[str, Any]:
    """Bring the per-message response cache up to date (or rebuild it), so dashboard pages read it warm."""
    settings = get_settings()
    window = settings.attribution_window_days  # the one reports and the dashboard ask for
    with session_scope(shared_engine(settings.database_url)) as session:
        done = rebuild(session, window) if full else refresh(session, window)
    note = " (skipped: another refresh is running)" if done.skipped else ""
    print(f"report cache: {done.new_messages} new message(s){note}")
    return asdict(done)


@flow(name="weekly-report", log_prints=True)
def weekly_report(days: int = 7) -> dict[str, Any]:
    """Build the report of the last `days` days and email it to every configured recipient."""
    if not get_settings().report_recipients:
        print("No RELANCE_REPORT_RECIPIENTS configured: the weekly report was not built.")
        return {"sent": [], "skipped": "no recipients"}
    _, summary, messages = build_report(days)
    deliveries = email_report(messages)
    for delivery in deliveries:
        reason = f" ({delivery['reason']})" if delivery["reason"] else ""
        print(f"report → {delivery['to']}: {delivery['outcome']}{reason}")
    return {**summary, "sent": deliveries}


SCHEDULES: list[tuple[Any, dict[str, Any]]] = [
    (refresh_report_cache, {"interval": 300}),
    (weekly_report, {"cron": "0 7 * * 1"}),
]
