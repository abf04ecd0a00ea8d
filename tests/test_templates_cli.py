"""`relance template` sync, list, check and preview through the real CLI."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import Session

from templates.library import LIBRARY_DIR
from tests.helpers import make_contact, run_cli, run_cli_json


def test_sync_list_preview_and_check(cli_env: Path, session: Session) -> None:
    make_contact(session, email="zoe@example.org", first_name="Zoé", language="fr", phone="+33612345678",
                 address_line1="12 rue des Lilas", postcode="69003", city="Lyon", country="FR")
    synced = run_cli_json("template", "sync")
    assert synced["errors"] == [] and "welcome/fr" in synced["versions"]
    listed = {entry["name"]: entry for entry in run_cli_json("template", "list")}
    assert listed["welcome"]["versions"] == {"en": 1, "fr": 1} and listed["sms-offer"]["channel"] == "sms"
    out = cli_env / "welcome.html"
    preview = run_cli_json("template", "preview", "welcome", "--contact", "zoe@example.org", "--out", str(out))
    assert preview["subject"].startswith("Bienvenue") and "Zoé" in out.read_text()
    sms = run_cli_json("template", "preview", "sms-offer", "--contact", "zoe@example.org")
    assert sms["encoding"] == "GSM-7" and sms["segments"] == 1
    result = run_cli("template", "preview", "sms-offer", "--contact", "zoe@example.org")
    assert "GSM-7, 1 segment(s)" in result.output
    assert run_cli_json("template", "check", str(LIBRARY_DIR / "welcome" / "en.mjml"))["ok"] is True
    bad = cli_env / "bad.mjml"
    bad.write_text("<mjml><mj-body>\n<mj-section><mj-column><mj-text>{{ contact.shoe_size }}</mj-text>"
                   "</mj-column></mj-section></mj-body></mjml>")
    failed = run_cli("template", "check", str(bad))
    assert failed.exit_code == 1 and "line 2" in failed.output and "contact.shoe_size" in failed.output
