"""Login to the dashboard: users of `relance user add`, scrypt-checked, with a pause after repeated failures."""

from __future__ import annotations

import time

import streamlit as st

from core.db import session_scope
from core.users import Identity, authenticate
from dashboard.data import engine

USER_KEY = "relance_user"
MAX_FAILURES = 5
LOCKOUT_SECONDS = 30


def current_user() -> Identity | None:
    """Who is logged in in this browser session."""
    user = st.session_state.get(USER_KEY)
    if isinstance(user, dict) and user.get("username") and user.get("role"):
        return Identity(str(user["username"]), str(user["role"]))
    return None


def _locked() -> float:
    until = float(st.session_state.get("login_locked_until", 0.0))
    return max(0.0, until - time.monotonic())


def _failed() -> None:
    failures = int(st.session_state.get("login_failures", 0)) + 1
    st.session_state["login_failures"] = failures
    if failures >= MAX_FAILURES:
        st.session_state["login_locked_until"] = time.monotonic() + LOCKOUT_SECONDS
        st.session_state["login_failures"] = 0


def login_page() -> None:
    """The sign-in form; on success the app reruns with the user's pages."""
    st.title("Relance")
    st.caption("Campaign performance, ROI and audiences. Sign in with the account `relance user add` gave you.")
    with st.form("login"):
        username = st.text_input("Username", key="login_username")
        password = st.text_input("Password", type="password", key="login_password")
        submitted = st.form_submit_button("Sign in", type="primary")
    if not submitted:
        return
    wait = _locked()
    if wait:
        st.error(f"Too many failed attempts: try again in {wait:.0f} s.")
        return
    with session_scope(engine()) as session:
        identity = authenticate(session, username, password)
    if identity is None:
        _failed()
        st.error("Wrong username or password.")
        return
    st.session_state[USER_KEY] = {"username": identity.username, "role": identity.role}
    st.session_state["login_failures"] = 0
    st.rerun()


def logout() -> None:
    """Forget the user of this browser session."""
    st.session_state.pop(USER_KEY, None)
    st.rerun()
