"""Reading, merging, finding duplicates and erasing contacts, through the domain and the CLI (both DBs)."""

from __future__ import annotations

import csv
import json
from datetime import timedelta
from pathlib import Path

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from contacts.consent import Proof, is_suppressed, set_consent
from contacts.duplicates import find_duplicates
from contacts.merge import merge_contacts
from contacts.timeline import NewEvent, record_events
from core import clock
from core.models import Account, AuditLog, Consent, Contact, ContactEventStat, ContactTag, Event, Tag
from tests.helpers import days_ago, make_contact, run_cli, run_cli_json


def _seed(session: Session) -> Contact:
    account = Account(name="Acme", name_key="acme")
    session.add(account)
    session.flush()
    contact = make_contact(session, email="jean@exemple.fr", phone="+33612345678", first_name="Jean",
                           last_name="Dupont", account_id=account.id, company="Acme", attributes={"industry": "it"})
    set_consent(session, contact.id, "email", "granted", Proof(source="form", form="newsletter", ip="1.2.3.4"))
    record_events(session, [
        NewEvent("email.opened", "o1", contact.id, days_ago(3)),
        NewEvent("email.clicked", "c1", contact.id, days_ago(1), properties={"url": "https://x.fr"}),
    ])
    tag = Tag(name="vip")
    session.add(tag)
    session.flush()
    session.add(ContactTag(contact_id=contact.id, tag_id=tag.id))
    session.commit()
    return contact


def test_show_json_gives_the_360_view(cli_env: Path, session: Session) -> None:
    contact = _seed(session)
    view = run_cli_json("contacts", "show", "Jean@Exemple.fr")
    assert view["contact"]["id"] == contact.id and view["account"]["name"] == "Acme"
    assert view["tags"] == ["vip"] and view["attributes"] == {"industry": "it"}
    assert view["consent"]["email"]["status"] == "granted" and view["consent"]["email"]["proof"]["ip"] == "1.2.3.4"
    assert view["consent"]["sms"]["status"] == "none"
    types = [event["type"] for event in view["timeline"]]
    assert types[:2] == ["consent.changed", "email.clicked"] and types[-1] == "email.opened"  # newest first
    assert view["engagement"]["email.opened"]["count"] == 1
    assert run_cli_json("contacts", "show", str(contact.id))["contact"]["email"] == "jean@exemple.fr"
    assert run_cli_json("contacts", "show", "06 12 34 56 78")["contact"]["id"] == contact.id
    human = run_cli("contacts", "show", "jean@exemple.fr")
    assert human.exit_code == 0 and "Dupont" in human.output
    missing = run_cli("contacts", "show", "nobody@exemple.fr")
    assert missing.exit_code == 1


def test_count_and_streamed_export(cli_env: Path, session: Session) -> None:
    _seed(session)
    make_contact(session, last_name="Postal", address_line1="1 rue X", postcode="75001", city="Paris")
    counts = run_cli_json("contacts", "count")
    assert counts == {"contacts": 2, "with_email": 1, "with_phone": 1, "postal_only": 1, "erased": 0, "accounts": 1}
    result = run_cli("contacts", "export", "--format", "csv", "--out", "out.csv")
    assert result.exit_code == 0
    with (cli_env / "out.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["email"] for row in rows] == ["jean@exemple.fr", ""] and rows[0]["tags"] == "vip"
    lines = run_cli("contacts", "export", "--format", "jsonl").stdout.splitlines()
    assert json.loads(lines[0])["attributes"] == {"industry": "it"}


def test_erase_keeps_hashed_suppressions(cli_env: Path, session: Session) -> None:
    contact = _seed(session)
    result = run_cli_json("contacts", "erase", "jean@exemple.fr", "--yes")
    assert result["suppressed"] == ["email", "sms"]
    session.expire_all()
    erased = session.get(Contact, contact.id)
    assert erased is not None and erased.erased_at is not None
    assert (erased.email, erased.phone, erased.first_name, erased.attributes) == (None, None, None, {})
    assert is_suppressed(session, "email", "jean@exemple.fr") and is_suppressed(session, "sms", "+33612345678")
    assert all(event.properties == {} for event in session.scalars(select(Event)))
    assert session.scalar(select(func.count()).select_from(Consent)) == 0
    assert session.scalar(select(func.count()).select_from(ContactTag)) == 0
    audit = session.scalars(select(AuditLog)).one()
    assert audit.action == "contact.erase" and "jean" not in json.dumps(audit.details)
    assert run_cli("contacts", "erase", "jean@exemple.fr", "--yes").exit_code == 1  # no longer findable
    # An old export that still holds the person cannot bring them back.
    (cli_env / "old.csv").write_text("email,first_name\nJean@exemple.fr,Jean\nother@exemple.fr,Ann\n")
    summary = run_cli_json("import", "contacts", "old.csv")
    assert (summary["created"], summary["rejected"]) == (1, 1)
    assert "erased" in summary["error_samples"][0]["reason"]


def test_export_personal_data(cli_env: Path, session: Session) -> None:
    _seed(session)
    data = run_cli_json_plain("contacts", "export-personal-data", "jean@exemple.fr")
    assert data["contact"]["email"] == "jean@exemple.fr" and data["company"]["name"] == "Acme"
    assert data["consent_records"][0]["ip"] == "1.2.3.4"
    assert {event["type"] for event in data["events"]} == {"email.opened", "email.clicked", "consent.changed"}


def run_cli_json_plain(*args: str) -> dict:  # type: ignore[type-arg]
    result = run_cli(*args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_merge_moves_history_and_keeps_newest_consent(engine: Engine, session: Session) -> None:
    keep = _seed(session)
    clock.travel(timedelta(minutes=5))
    other = make_contact(session, email="j.dupont@gmail.com", first_name="Jean", last_name="Dupont",
                         city="Lyon", attributes={"size": 10})
    set_consent(session, other.id, "email", "withdrawn", Proof(source="unsubscribe"))
    record_events(session, [NewEvent("email.opened", "o2", other.id, days_ago(2))])
    session.add(ContactTag(contact_id=other.id, tag_id=session.scalars(select(Tag.id)).one()))
    session.commit()
    result = merge_contacts(session, keep.id, other.id)
    session.commit()
    session.expire_all()
    assert session.get(Contact, other.id) is None
    merged = session.get(Contact, keep.id)
    assert merged is not None
    assert (merged.email, merged.city) == ("jean@exemple.fr", "Lyon")
    assert merged.attributes == {"industry": "it", "size": 10, "other_emails": ["j.dupont@gmail.com"]}
    assert "city" in result.fields_taken
    assert session.scalars(select(Consent.status).where(Consent.contact_id == keep.id)).one() == "withdrawn"
    stat = session.get(ContactEventStat, (keep.id, "email.opened"))
    assert stat is not None and stat.count == 2
    assert session.scalar(select(func.count()).select_from(ContactTag)) == 1
    assert session.scalars(select(AuditLog.action)).all() == ["contact.merge"]
    assert session.scalar(select(func.count()).select_from(Event).where(Event.contact_id == other.id)) == 0


def test_fuzzy_duplicates_and_cli_merge(cli_env: Path, session: Session) -> None:
    account = Account(name="Acme", name_key="acme")
    session.add(account)
    session.flush()
    first = make_contact(session, email="jean.dupont@acme.fr", first_name="Jean", last_name="Dupont",
                         account_id=account.id)
    second = make_contact(session, email="jdupont@gmail.com", first_name="Jean", last_name="Dupond",
                          account_id=account.id)
    make_contact(session, email="marie@acme.fr", first_name="Marie", last_name="Curie", account_id=account.id)
    third = make_contact(session, email="paul@x.fr", first_name="Paul", last_name="Martin", phone="+33611111111")
    fourth = make_contact(session, email="lea@x.fr", first_name="Léa", last_name="Martin", phone="+33611111111")
    pairs = find_duplicates(session)
    found = {(pair.first_id, pair.second_id): pair for pair in pairs}
    assert set(found) == {(first.id, second.id), (third.id, fourth.id)}
    assert found[(first.id, second.id)].reason == "similar name, same company"
    listed = run_cli_json("contacts", "duplicates")
    assert [(pair["first_id"], pair["second_id"]) for pair in listed][0] == (first.id, second.id)
    merged = run_cli_json("contacts", "merge", str(first.id), str(second.id))
    assert merged["merged_id"] == second.id
    assert run_cli("contacts", "merge", str(first.id), str(first.id)).exit_code == 1
    remaining = run_cli_json("contacts", "duplicates")
    assert [(pair["first_id"], pair["second_id"]) for pair in remaining] == [(third.id, fourth.id)]


def test_import_cli_json_summary_and_report(cli_env: Path, session: Session) -> None:
    (cli_env / "c.csv").write_text("Courriel;Prénom\nA@exemple.fr;Ann\nbad;Bob\n", encoding="cp1252")
    summary = run_cli_json("import", "contacts", "c.csv", "--report", "errors.csv")
    assert (summary["rows_read"], summary["created"], summary["rejected"]) == (2, 1, 1)
    assert (cli_env / "errors.csv").read_text(encoding="utf-8-sig").startswith("line,column,value,reason")
    assert run_cli_json("import", "contacts", "c.csv")["unchanged"] == 1
    dry = run_cli_json("import", "contacts", "c.csv", "--dry-run")
    assert dry["dry_run"] is True
    (cli_env / "m.yaml").write_text("columns: {Courriel: nope}\n", encoding="utf-8")
    assert run_cli("import", "contacts", "c.csv", "--mapping", "m.yaml").exit_code == 1
    (cli_env / "orders.csv").write_text("email,amount,occurred_at,external_ref\na@exemple.fr,10,2024-01-01,O1\n")
    assert run_cli_json("import", "conversions", "orders.csv")["recorded"] == 1
    visits = [{"email": email, "type": "page.visited", "occurred_at": "2024-01-01"}
              for email in ("a@exemple.fr", "nobody@exemple.fr")]
    (cli_env / "ev.jsonl").write_text("\n".join(json.dumps(visit) for visit in visits))
    events = run_cli_json("import", "events", "ev.jsonl", "--report", "events-rejected.csv")
    assert (events["recorded"], events["rejected"], events["report"]) == (1, 1, "events-rejected.csv")
    assert "nobody@exemple.fr,no such contact" in (cli_env / "events-rejected.csv").read_text(encoding="utf-8-sig")
    exported = run_cli("contacts", "export", "--format", "jsonl", "--out", "all.jsonl")
    assert exported.exit_code == 0 and (cli_env / "all.jsonl").read_text(encoding="utf-8").count("\n") == 1
    assert run_cli_json("contacts", "export-personal-data", "a@exemple.fr")["contact"]["email"] == "a@exemple.fr"


def test_duplicates_without_a_company_are_found_by_place(engine: Engine, session: Session) -> None:
    marc = make_contact(session, email="marc.petit@gmail.com", first_name="Marc", last_name="Petit",
                        postcode="69003", city="Lyon")
    typo = make_contact(session, email="marcpetit@yahoo.fr", first_name="Marc", last_name="Petitt",
                        postcode="69003", city="Lyon")
    make_contact(session, email="marc.petit@free.fr", first_name="Marc", last_name="Petit", postcode="13001")
    in_town = make_contact(session, email="a@x.fr", first_name="Anne", last_name="Roy", city="Dijon")
    again = make_contact(session, email="b@x.fr", first_name="Anne", last_name="Roy", city="DIJON")
    found = {(pair.first_id, pair.second_id): pair.reason for pair in find_duplicates(session)}
    assert found == {(marc.id, typo.id): "similar name, same town", (in_town.id, again.id): "same name, same town"}


def test_large_blocks_compare_neighbours_in_name_order(engine: Engine, session: Session) -> None:
    from contacts import duplicates

    account = Account(name="Big", name_key="big")
    session.add(account)
    session.flush()
    session.add_all(Contact(email=f"p{index}@big.fr", first_name=f"Person{index:04d}", last_name="Zed",
                            account_id=account.id) for index in range(duplicates.MAX_BLOCK + 20))
    twin = Contact(email="p7@gmail.com", first_name="Person0007", last_name="Zed", account_id=account.id)
    session.add(twin)
    session.commit()
    pairs = find_duplicates(session, threshold=100, limit=10_000)
    assert [(pair.second_id, pair.reason) for pair in pairs] == [(twin.id, "same name, same company")]
    assert all(pair.first_id < pair.second_id for pair in find_duplicates(session, limit=10_000))
