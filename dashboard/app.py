"""The Streamlit dashboard (`relance dashboard`): sign-in, then the pages the user's role allows (st.navigation)."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from dashboard.auth import current_user, login_page, logout
from dashboard.data import prepare_caches

VIEWS = Path(__file__).parent / "views"
PAGES = {
    "Performance": [("overview.py", "Overview", ":material/dashboard:"),
                    ("campaigns.py", "Campaigns", ":material/campaign:"),
                    ("campaign.py", "Campaign report", ":material/insights:"),
                    ("journeys.py", "Journeys", ":material/route:"),
                    ("channels.py", "Channels", ":material/alt_route:")],
    "Audience": [("segments.py", "Segments", ":material/groups:"),
                 ("scoring.py", "Lead scoring", ":material/local_fire_department:"),
                 ("contacts.py", "Contacts", ":material/person_search:"),
                 ("surveys.py", "Surveys", ":material/rate_review:")],
}
SCHEDULE = ("schedule.py", "Schedule", ":material/schedule_send:")


def main() -> None:
    st.set_page_config(page_title="Relance", page_icon=":material/monitoring:", layout="wide")
    user = current_user()
    if user is None:
        st.navigation([st.Page(login_page, title="Sign in", icon=":material/login:")], position="hidden").run()
        return
    sections = {section: [st.Page(VIEWS / file, title=title, icon=icon, default=file == "overview.py")
                          for file, title, icon in pages] for section, pages in PAGES.items()}
    if user.may_schedule:
        file, title, icon = SCHEDULE
        sections["Act"] = [st.Page(VIEWS / file, title=title, icon=icon)]
    with st.sidebar:
        st.caption(f"Signed in as **{user.username}** ({user.role})")
        if st.button("Sign out", key="sign-out", icon=":material/logout:"):
            logout()
    page = st.navigation(sections)
    prepare_caches()
    page.run()


main()
