"""Surveys: invitations funnel, NPS (split and interval), CSAT, each question's distribution, weekly trend,
breakdowns by channel, language and segment, and the text answers — the same figures as `relance survey results`."""

from __future__ import annotations

from typing import Any

import streamlit as st

from dashboard import charts, data, widgets


def _score_rows(rows: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    """Breakdown rows as a table: responses, completions, NPS and CSAT with their intervals."""
    table = []
    for row in rows:
        score, share = row["nps"], row["csat"]
        table.append({key: row["key"], "responses": row["responses"], "completed": row["completed"],
                      "NPS": score["nps"] if score else None, "NPS low": score["low"] if score else None,
                      "NPS high": score["high"] if score else None,
                      "CSAT %": share["value"] if share else None})
    return table


def _headline(found: Any) -> None:
    columns = st.columns(6)
    rate = f"{found.response_rate:.1%}" if found.response_rate is not None else "—"
    figures = (("Invited", f"{found.invited:,}"), ("Delivered", f"{found.delivered:,}"),
               ("Opened", f"{found.opened:,}"), ("Started", f"{found.started:,}"),
               ("Completed", f"{found.completed:,}"), ("Response rate", rate))
    for column, (label, value) in zip(columns, figures, strict=True):
        column.metric(label, value)
    score, share = found.nps, found.csat
    left, right = st.columns(2)
    if score is not None:
        left.metric("NPS", f"{score.score.value:+.1f}", help="Promoters (9-10) minus detractors (0-6), in points. "
                    "95 % interval from the variance (p + d − (p − d)²) / n.")
        left.caption(f"95 % interval {score.score.low:+.1f} to {score.score.high:+.1f}, n = {score.n:,}")
        left.altair_chart(charts.nps_split(score.detractors, score.passives, score.promoters), width="stretch")
    if share is not None:
        right.metric("CSAT", f"{share.value:.1f} %", help="Share of 4 and 5 answers; Wilson 95 % interval.")
        right.caption(f"95 % interval {share.low:.1f} to {share.high:.1f} %, n = {share.n:,}")


def _questions(found: Any) -> None:
    st.subheader("Answers per question")
    for question in found.questions:
        with st.expander(f"{question.text} — {question.respondents:,} answered", expanded=question.type == "nps"):
            if question.rows:
                widgets.table(widgets.frame([{"row": row["label"], "answered": row["respondents"],
                                              "mean": row["mean"]} for row in question.rows]), f"{question.name} rows")
            elif question.distribution:
                st.altair_chart(charts.distribution(question.distribution, "answers"), width="stretch")
            else:
                st.caption("Free text: see the text answers below.")


def render() -> None:
    st.title("Surveys")
    names = data.survey_names(data.url())
    if not names:
        st.info("No survey yet: `relance survey create examples/surveys/nps-2026.yaml`, then a campaign with "
                "`survey: nps-2026`.")
        return
    first, second, third, fourth = st.columns([2, 2, 1, 1])
    name = first.selectbox("Survey", names, key="survey-name")
    segment = second.text_input("Only members of segment", key="survey-segment").strip() or None
    since = third.date_input("Since", value=None, key="survey-since", format="YYYY-MM-DD")
    language = fourth.selectbox("Language", ["en", "fr"], key="survey-language")
    try:
        found = data.survey(data.url(), name, segment, since, language)
    except (LookupError, ValueError) as exc:
        widgets.report_error(exc)
        return
    st.caption(f"{found.title} — version {found.version}" + (" — anonymous" if found.anonymous else ""))
    _headline(found)
    trend = [{"start": row["start"], "value": row["nps"]["nps"], "low": row["nps"]["low"], "high": row["nps"]["high"]}
             for row in found.trend if row["nps"]]
    if trend:
        st.subheader("NPS by week")
        st.altair_chart(charts.score_trend(trend, "NPS"), width="stretch")
    _questions(found)
    for title, rows, key in (("By channel", found.by_channel, "channel"), ("By language", found.by_language,
                                                                          "language"),
                             ("By segment", found.by_segment, "segment")):
        if rows:
            st.subheader(title)
            widgets.table(widgets.frame(_score_rows(rows, key)), f"survey {key}s")
    if found.texts:
        st.subheader("Text answers")
        widgets.table(widgets.frame(found.texts, ["question_text", "text", "other", "language", "answered_at"]),
                      "survey texts")


render()
