"""Contacts: search by email, name, company, phone or id, then the 360° view with the whole timeline."""

from __future__ import annotations

from typing import Any

import streamlit as st

from dashboard import charts, data, widgets


def _view(view: dict[str, Any]) -> None:
    contact = view["contact"]
    name = " ".join(part for part in (contact.get("first_name"), contact.get("last_name")) if part)
    st.subheader(name or contact.get("email") or f"contact #{contact['id']}")
    columns = st.columns(4)
    columns[0].metric("Stage", contact.get("lifecycle_stage") or "—")
    columns[1].metric("Rule score", widgets.number(contact.get("score")))
    columns[2].metric("Probability", widgets.percent(contact.get("predicted_score")))
    columns[3].metric("Grade", contact.get("grade") or "—")
    fields, consent = st.columns(2)
    with fields:
        rows = [{"field": key, "value": "" if value is None else str(value)} for key, value in contact.items()
                if key not in ("score_reasons",)]
        attributes = view["attributes"] or {}
        rows += [{"field": f"attributes.{key}", "value": str(value)} for key, value in attributes.items()]
        widgets.table(widgets.frame(rows), f"contact {contact['id']}", key="csv-contact-fields")
    with consent:
        rows = [{"channel": channel, "consent": state["status"], "since": state["since"],
                 "address": state["address_status"], "suppressed": state["suppressed"] or ""}
                for channel, state in view["consent"].items()]
        widgets.table(widgets.frame(rows), "consent", key="csv-contact-consent")
        st.caption(f"tags: {', '.join(view['tags']) or '—'} · account: "
                   f"{(view['account'] or {}).get('name') or '—'}")
    timeline = [{"occurred_at": event["occurred_at"], "type": event["type"], "campaign_id": event["campaign_id"],
                 "properties": str(event["properties"] or {})} for event in view["timeline"]]
    st.subheader("Timeline")
    if timeline:
        st.altair_chart(charts.events_over_time(timeline), width="stretch")
    widgets.table(widgets.frame(timeline, ["occurred_at", "type", "campaign_id", "properties"]), "timeline",
                  key="csv-contact-timeline")


def render() -> None:
    st.title("Contacts")
    text = st.text_input("Search", key="contacts-search", placeholder="email, name, company, phone or id")
    if not text.strip():
        st.caption("Type at least part of an email address, a name or a company.")
        return
    found = data.contact_search(data.url(), text)
    if not found:
        st.info("No contact matches.")
        return
    widgets.table(widgets.frame(found), "contacts found")
    labels = {row["id"]: f"#{row['id']} {row.get('email') or ''} {row.get('first_name') or ''} "
                         f"{row.get('last_name') or ''}".strip() for row in found}
    chosen = st.selectbox("Open", list(labels), format_func=lambda key: labels[key], key="contacts-open")
    view = data.contact(data.url(), int(chosen))
    if view is None:
        st.warning("This contact no longer exists.")
        return
    _view(view)


render()
