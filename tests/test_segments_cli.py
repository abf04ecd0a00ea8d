"""`relance segment ...` end to end on both databases."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, select

from core.db import session_scope
from core.models import Contact
from tests.helpers import make_contact, run_cli, run_cli_json

DEFINITION = """\
name: french-leads
description: French leads
conditions:
  - {field: country, op: eq, value: FR}
  - {lifecycle_stage: [lead, mql]}
"""


def _people(engine: Engine) -> None:
    with session_scope(engine) as session:
        make_contact(session, email="anne@example.fr", country="FR", lifecycle_stage="lead", commit=False)
        make_contact(session, email="bert@example.fr", country="FR", lifecycle_stage="customer", commit=False)
        make_contact(session, email="carl@example.de", country="DE", lifecycle_stage="lead", commit=False)


def test_create_list_count_preview_refresh_explain(cli_env: Path, engine: Engine) -> None:
    _people(engine)
    (cli_env / "leads.yaml").write_text(DEFINITION, encoding="utf-8")
    assert run_cli_json("segment", "count", "leads.yaml") == {"target": "leads.yaml", "count": 1}  # unsaved
    assert run_cli_json("segment", "create", "leads.yaml")["size"] == 1
    listed = run_cli_json("segment", "list")
    assert [(row["name"], row["size"]) for row in listed] == [("french-leads", 1)]
    assert run_cli_json("segment", "count", "french-leads")["count"] == 1
    assert [row["email"] for row in run_cli_json("segment", "preview", "french-leads", "--limit", "5")] == [
        "anne@example.fr"]
    refreshed = run_cli_json("segment", "refresh", "--all")
    assert [(row["segment"], row["entered"], row["exited"]) for row in refreshed] == [("french-leads", 0, 0)]
    explained = run_cli_json("segment", "explain", "french-leads", "bert@example.fr")
    assert explained["met"] is False
    assert [child["met"] for child in explained["children"]] == [True, False]
    shown = run_cli("segment", "explain", "french-leads", "anne@example.fr")
    assert shown.exit_code == 0 and "met" in shown.output and "country eq FR" in shown.output
    assert "french-leads" in run_cli("segment", "list").output
    assert "conditions" in run_cli("segment", "show", "french-leads").output
    shown_json = run_cli_json("segment", "show", "french-leads")
    assert (shown_json["name"], shown_json["description"], len(shown_json["conditions"])) == (
        "french-leads", "French leads", 2)
    assert run_cli("segment", "delete", "french-leads", "--json").exit_code == 1  # never deleted unconfirmed
    assert run_cli_json("segment", "delete", "french-leads", "--yes") == {"segment": "french-leads", "deleted": True}
    assert run_cli_json("segment", "list") == []


def test_bad_definitions_exit_2_with_the_path(cli_env: Path, engine: Engine) -> None:
    (cli_env / "bad.yaml").write_text(
        "conditions:\n  - {field: country, op: eq, value: FR}\n  - {any: [{field: country, op: gt, value: A}]}\n",
        encoding="utf-8",
    )
    result = run_cli("segment", "count", "bad.yaml")
    assert result.exit_code == 2
    assert "conditions[1].any[0].op" in result.output and "gt does not apply" in result.output
    assert run_cli("segment", "create", "bad.yaml").exit_code == 2
    assert run_cli_json("segment", "list") == []  # nothing was saved
    missing = run_cli("segment", "refresh", "nope")
    assert missing.exit_code == 1 and "no segment named 'nope'" in missing.output
    assert run_cli("segment", "refresh").exit_code == 2


def test_static_lists_rfm_and_clusters(cli_env: Path, engine: Engine) -> None:
    _people(engine)
    (cli_env / "vip.yaml").write_text("name: vip\nkind: static\n", encoding="utf-8")
    assert run_cli_json("segment", "create", "vip.yaml")["kind"] == "static"
    (cli_env / "vip.csv").write_text("email\nanne@example.fr\ncarl@example.de\n", encoding="utf-8")
    assert run_cli_json("segment", "add", "vip", "--csv", "vip.csv") == {"segment": "vip", "added": 2, "size": 2}
    assert run_cli_json("segment", "remove", "vip", "carl@example.de")["size"] == 1
    assert run_cli_json("segment", "rfm") == []  # no customer yet
    flat = run_cli("segment", "cluster", "--k", "2")  # nobody has engaged yet: nothing to tell apart
    assert flat.exit_code == 1 and "only 1 distinct profiles" in flat.output
    with session_scope(engine) as session:
        for contact in session.scalars(select(Contact)):
            contact.attributes = {"employees": 10 if contact.country == "FR" else 900}
    clusters = run_cli_json("segment", "cluster", "--fields", "employees", "--k", "2")
    assert clusters["k"] == 2 and [profile["size"] for profile in clusters["profiles"]] == [2, 1]
