"""`relance survey`: create checks the file (errors name the path), versions, list, preview, close/reopen, results
as text, JSON and CSV."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import yaml
from sqlalchemy.orm import Session

from core.models import Invitation
from core.settings import get_settings
from surveys.answering import save_page
from surveys.records import Visit
from surveys.respondents import open_invitation
from tests.helpers import run_cli, run_cli_json
from tests.surveys.support import EXAMPLES, example, invite_contacts, make_contacts


def _answer(session: Session, invitation: Invitation, *pages: dict[str, list[str]]) -> None:
    settings = get_settings()
    for index, form in enumerate(pages):
        respondent = open_invitation(session, settings, {"i": invitation.id, "c": invitation.contact_id})
        assert save_page(session, settings, respondent, index, form, Visit()).ok
        session.commit()


def test_create_names_the_bad_path_and_versions_changes(cli_env: Path) -> None:
    broken = example()
    broken["pages"][1]["questions"][0]["visible_if"] = {"support": {"lte": 3}}
    broken["pages"][0]["questions"][0]["text"] = {"fr": "Recommanderiez-vous ?"}
    (cli_env / "broken.yaml").write_text(yaml.safe_dump(broken, allow_unicode=True), encoding="utf-8")
    result = run_cli("survey", "create", "broken.yaml")
    output = " ".join(result.output.split())
    assert result.exit_code == 2
    assert "pages[0].questions[0].text: missing the en text" in output
    assert "pages[1].questions[0].visible_if: 'support' is not on an earlier page" in output
    assert run_cli("survey", "list", "--json").stdout.strip() == "[]"  # nothing stored
    assert run_cli("survey", "create", "broken.yaml", "--check").exit_code == 2
    created = run_cli_json("survey", "create", str(EXAMPLES / "nps-2026.yaml"))
    assert created | {"created": True, "version": 1, "first_question_in_email": True} == created
    assert run_cli_json("survey", "create", str(EXAMPLES / "nps-2026.yaml"))["new_version"] is False
    changed = example(title={"fr": "Nouveau titre", "en": "New title"})
    (cli_env / "changed.yaml").write_text(yaml.safe_dump(changed, allow_unicode=True), encoding="utf-8")
    assert run_cli_json("survey", "create", "changed.yaml")["version"] == 2
    listed = run_cli_json("survey", "list")
    assert [(row["name"], row["version"], row["status"]) for row in listed] == [("nps-2026", 2, "open")]
    assert run_cli("survey", "close", "nps-2026").exit_code == 0
    assert run_cli_json("survey", "list")[0]["status"] == "closed"
    assert run_cli("survey", "close", "nps-2026").exit_code == 1
    assert run_cli("survey", "reopen", "nps-2026").exit_code == 0
    preview = run_cli("survey", "preview", "nps-2026", "--lang", "en", "--out", "pages")
    assert preview.exit_code == 0 and len(list((cli_env / "pages").glob("*.html"))) == 3
    assert "How likely are you" in (cli_env / "pages" / "nps-2026-en-page1.html").read_text(encoding="utf-8")


def test_results_as_text_json_and_csv(cli_env: Path, session: Session) -> None:
    assert run_cli("survey", "create", str(EXAMPLES / "nps-2026.yaml")).exit_code == 0
    invitations = invite_contacts(session, "nps-2026", make_contacts(session, 3))
    _answer(session, invitations[0], {"q.nps": ["10"]}, {"q.support": ["5"], "q.usage": ["other"],
                                                          "q.usage.other": ["Parfois"], "q.liked": ["Rapide"]},
            {"q.aspects.price": ["2"], "q.features": ["reports", "scoring"]})
    _answer(session, invitations[1], {"q.nps": ["2"]})
    text = run_cli("survey", "results", "nps-2026", "--lang", "fr")
    assert text.exit_code == 0, text.output
    output = " ".join(text.output.split())
    assert "NPS +0.0 (95 % CI" in output and "1 detractors" in output and "“Rapide”" in output
    data = run_cli_json("survey", "results", "nps-2026")
    assert (data["invited"], data["started"], data["completed"]) == (3, 2, 1)
    assert data["nps"]["promoters"] == 1 and data["nps"]["detractors"] == 1
    assert sorted(row["text"] for row in data["texts"]) == ["Parfois", "Rapide"]
    exported = run_cli("survey", "results", "nps-2026", "--csv")
    rows = list(csv.DictReader(io.StringIO(exported.stdout)))
    assert len(rows) == 2
    first = next(row for row in rows if row["status"] == "completed")
    assert (first["nps"], first["usage"], first["usage_other"], first["features"], first["aspects_price"]) == (
        "10", "other", "Parfois", "reports;scoring", "2")
    assert first["email"].endswith("@example.com")
    assert run_cli("survey", "results", "nps-2026", "--csv", "-o", "out.csv").exit_code == 0
    assert (cli_env / "out.csv").read_text(encoding="utf-8").count("\n") == 3
    assert run_cli("survey", "results", "nope").exit_code == 1
    assert run_cli("survey", "results", "nps-2026", "--since", "yesterday").exit_code == 1
