"""Contact import: encodings, delimiters, XLSX, mapping, dedup, idempotency, bad rows, consent (both DBs)."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from contacts.imports.mapping import load_mapping
from contacts.imports.pipeline import import_contacts
from core.models import Account, Consent, Contact, ContactTag, Event, Tag
from tests.helpers import make_contact

FRENCH_ROWS = [
    ["Prénom", "Nom", "Courriel", "Téléphone", "Société", "Code postal", "Ville", "Pays", "Secteur"],
    ["Élodie", "Lefèvre", "Elodie.Lefevre@Exemple.FR", "06 12 34 56 78", "Café Crème SARL", "75011", "Paris",
     "France", "Restauration"],
    ["François", "Müller", "f.muller@exemple.ch", "+41 44 668 18 00", "Zürich AG", "8001", "Zürich", "Suisse",
     "Banque"],
]


def write_csv(path: Path, rows: list[list[str]], *, encoding: str = "utf-8", delimiter: str = ",") -> Path:
    with path.open("w", encoding=encoding, newline="") as handle:
        csv.writer(handle, delimiter=delimiter).writerows(rows)
    return path


def contacts_by_email(session: Session) -> dict[str | None, Contact]:
    session.expire_all()
    return {contact.email: contact for contact in session.scalars(select(Contact))}


@pytest.mark.parametrize(("encoding", "delimiter"), [
    ("utf-8", ","), ("utf-8-sig", ";"), ("cp1252", ";"), ("utf-8", "\t"), ("latin-1", ","),
])
def test_encodings_and_delimiters_are_detected(engine: Engine, session: Session, tmp_path: Path,
                                               encoding: str, delimiter: str) -> None:
    rows = FRENCH_ROWS if encoding != "latin-1" else [FRENCH_ROWS[0], FRENCH_ROWS[1]]
    path = write_csv(tmp_path / "contacts.csv", rows, encoding=encoding, delimiter=delimiter)
    summary = import_contacts(engine, path)
    assert summary.delimiter == delimiter
    assert summary.encoding == {"utf-8-sig": "utf-8-sig", "utf-8": "utf-8", "cp1252": "cp1252",
                                "latin-1": "cp1252"}[encoding]
    assert (summary.rows_read, summary.created, summary.rejected) == (len(rows) - 1, len(rows) - 1, 0)
    elodie = contacts_by_email(session)["elodie.lefevre@exemple.fr"]
    assert (elodie.first_name, elodie.last_name, elodie.phone) == ("Élodie", "Lefèvre", "+33612345678")
    assert (elodie.country, elodie.timezone, elodie.postcode, elodie.city) == ("FR", "Europe/Paris", "75011", "Paris")
    assert elodie.attributes == {"secteur": "Restauration"}
    account = session.get(Account, elodie.account_id)
    assert account is not None and account.name_key == "cafe creme"


def test_xlsx_is_streamed_with_typed_cells(engine: Engine, session: Session, tmp_path: Path) -> None:
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["Email", "First name", "Last name", "Mobile", "Birth date", "Employees"])
    sheet.append(["ann@example.com", "Ann", "Lee", 612345678, datetime(1980, 5, 17), 250])
    sheet.append(["bad-email", "Bo", "Kim", None, None, None])
    workbook.save(tmp_path / "contacts.xlsx")
    summary = import_contacts(engine, tmp_path / "contacts.xlsx")
    assert (summary.created, summary.rejected) == (1, 1)
    assert summary.error_samples[0]["line"] == 3 and summary.error_samples[0]["column"] == "Email"
    ann = contacts_by_email(session)["ann@example.com"]
    assert ann.phone == "+33612345678" and str(ann.birth_date) == "1980-05-17"
    assert ann.attributes == {"employees": 250}


def test_mapping_file_overrides_detection(engine: Engine, session: Session, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "crm.csv", [
        ["Adresse perso", "Code", "Nom", "Interne", "Segment"],
        ["x@exemple.fr", "C-001", "Durand", "secret", "PME"],
    ])
    mapping_path = tmp_path / "mapping.yaml"
    mapping_path.write_text(
        "columns:\n  Adresse perso: email\n  Code: external_id\n  Interne: ignore\n  Segment: attributes.tier\n"
        "tags: [salon-2024]\nsource: salon\n", encoding="utf-8")
    summary = import_contacts(engine, path, mapping=load_mapping(mapping_path))
    assert summary.columns == {"Adresse perso": "email", "Code": "external_id", "Nom": "last_name",
                               "Segment": "attributes.tier"}
    contact = contacts_by_email(session)["x@exemple.fr"]
    assert (contact.external_id, contact.source, contact.attributes) == ("C-001", "salon", {"tier": "PME"})
    tags = session.scalars(select(Tag.name).join(ContactTag).where(ContactTag.contact_id == contact.id)).all()
    assert tags == ["salon-2024"]


def test_duplicates_within_the_file_merge_with_precedence(engine: Engine, session: Session, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "dups.csv", [
        ["email", "first_name", "last_name", "phone", "city", "tags", "job_title"],
        ["jean@exemple.fr", "Jean", "Dupont", "", "Paris", "vip", "CTO"],
        ["JEAN@exemple.fr", "", "Dupont", "0612345678", "Lyon", "newsletter", ""],  # same email
        ["", "Jean", "Dupont", "+33 6 12 34 56 78", "", "salon", ""],  # same phone, no email
        ["paul@exemple.fr", "Paul", "", "0612345678", "", "", ""],  # same phone but another email: kept apart
    ])
    summary = import_contacts(engine, path)
    assert (summary.rows_read, summary.created, summary.merged, summary.rejected) == (4, 2, 2, 0)
    jean = contacts_by_email(session)["jean@exemple.fr"]
    assert (jean.first_name, jean.phone, jean.city, jean.job_title) == ("Jean", "+33612345678", "Lyon", "CTO")
    tags = session.scalars(select(Tag.name).join(ContactTag).where(ContactTag.contact_id == jean.id)).all()
    assert sorted(tags) == ["newsletter", "salon", "vip"]


def test_rows_match_existing_contacts_and_reimport_changes_nothing(engine: Engine, session: Session,
                                                                   tmp_path: Path) -> None:
    existing = make_contact(session, email="jean@exemple.fr", first_name="Jean", city="Paris",
                            attributes={"vip": 1})
    by_external = make_contact(session, email="old@exemple.fr", external_id="CRM-9")
    by_phone = make_contact(session, phone="+33698765432", last_name="Sans-Mail")
    path = write_csv(tmp_path / "update.csv", [
        ["email", "external_id", "phone", "city", "company", "segment"],
        ["jean@exemple.fr", "", "", "", "Acme", "gold"],  # empty city does not blank Paris
        ["new@exemple.fr", "CRM-9", "", "Nantes", "", ""],  # external id wins: email changes (newer file)
        ["", "", "06 98 76 54 32", "Lille", "", ""],
        ["fresh@exemple.fr", "", "", "", "", ""],
    ])
    first = import_contacts(engine, path)
    assert (first.created, first.updated, first.unchanged, first.merged, first.rejected) == (1, 3, 0, 0, 0)
    session.expire_all()
    jean = session.get(Contact, existing.id)
    assert jean is not None
    assert (jean.city, jean.company, jean.attributes) == ("Paris", "Acme", {"vip": 1, "segment": "gold"})
    moved = session.get(Contact, by_external.id)
    assert moved is not None and (moved.email, moved.city) == ("new@exemple.fr", "Nantes")
    phone_only = session.get(Contact, by_phone.id)
    assert phone_only is not None and phone_only.city == "Lille"
    before = {contact.id: contact.updated_at for contact in session.scalars(select(Contact))}
    again = import_contacts(engine, path)
    assert (again.created, again.updated, again.unchanged, again.rejected) == (0, 0, 4, 0)
    session.expire_all()
    assert {contact.id: contact.updated_at for contact in session.scalars(select(Contact))} == before
    assert session.scalar(select(func.count()).select_from(Account)) == 1


def test_bad_rows_are_reported_and_good_rows_import(engine: Engine, session: Session, tmp_path: Path) -> None:
    make_contact(session, email="a@exemple.fr", external_id="E-1")
    make_contact(session, email="b@exemple.fr", external_id="E-2")
    path = write_csv(tmp_path / "messy.csv", [
        ["email", "phone", "country", "birth_date", "external_id", "email_opt_in", "last_name"],
        ["good@exemple.fr", "0612345678", "FR", "01/02/1990", "", "oui", ""],
        ["bad@", "06 12", "FR", "", "", "", ""],
        ["ok2@exemple.fr", "", "Narnia", "", "", "", ""],
        ["ok3@exemple.fr", "", "", "31/02/1990", "", "peut-être", ""],
        ["", "", "", "", "", "", "Nobody"],
        ["b@exemple.fr", "", "", "", "E-1", "", ""],  # keys point at two different contacts
        ["fine@exemple.fr", "", "", "", "", "", ""],
    ])
    report = tmp_path / "errors.csv"
    summary = import_contacts(engine, path, report=report)
    assert (summary.rows_read, summary.created, summary.rejected) == (7, 2, 5)
    with report.open(encoding="utf-8-sig") as handle:
        errors = list(csv.DictReader(handle))
    found = {(int(row["line"]), row["column"]) for row in errors}
    assert found == {(3, "email"), (3, "phone"), (4, "country"), (5, "birth_date"), (5, "email_opt_in"),
                     (6, ""), (7, "email")}
    assert all(row["reason"] for row in errors)
    assert "conflict" in next(row["reason"] for row in errors if row["line"] == "7")
    assert set(contacts_by_email(session)) == {"a@exemple.fr", "b@exemple.fr", "good@exemple.fr", "fine@exemple.fr"}


def test_consent_columns_become_records_with_proof(engine: Engine, session: Session, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "consent.csv", [
        ["email", "phone", "email_opt_in", "email_opt_in_date", "email_opt_in_source", "sms_opt_in", "mail_opt_in"],
        ["c@exemple.fr", "0612345678", "oui", "15/01/2024", "formulaire salon", "non", "1"],
    ])
    import_contacts(engine, path)
    contact = contacts_by_email(session)["c@exemple.fr"]
    consents = {row.channel: row for row in session.scalars(select(Consent).where(Consent.contact_id == contact.id))}
    assert {channel: row.status for channel, row in consents.items()} == \
        {"email": "granted", "sms": "withdrawn", "mail": "granted"}
    assert consents["email"].source == "formulaire salon"
    assert consents["email"].occurred_at == datetime(2024, 1, 15, tzinfo=UTC)
    assert consents["sms"].source == "import:consent.csv"
    events = session.scalars(select(Event).where(Event.type == "consent.changed")).all()
    assert len(events) == 3 and {event.properties["channel"] for event in events} == {"email", "sms", "mail"}
    # An older, undated opt-in never re-grants a withdrawal; a newer dated one does.
    write_csv(path, [["email", "sms_opt_in"], ["c@exemple.fr", "oui"]])
    assert import_contacts(engine, path).unchanged == 1
    write_csv(path, [["email", "sms_opt_in", "sms_opt_in_date"], ["c@exemple.fr", "oui", "2030-01-01"]])
    assert import_contacts(engine, path).updated == 1
    session.expire_all()
    assert session.scalars(select(Consent.status).where(Consent.channel == "sms")).one() == "granted"
    assert import_contacts(engine, path).unchanged == 1  # idempotent
    if engine.dialect.name == "sqlite":  # the import skips SQLite's foreign-key lookups: they must hold anyway
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall() == []
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1  # put back


def test_dry_run_saves_nothing(engine: Engine, session: Session, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "dry.csv", [["email", "company"], ["d@exemple.fr", "Dry Inc"]])
    summary = import_contacts(engine, path, dry_run=True)
    assert summary.created == 1 and summary.dry_run
    assert session.scalar(select(func.count()).select_from(Contact)) == 0
    assert session.scalar(select(func.count()).select_from(Account)) == 0


def test_postal_only_contacts_are_deduplicated_by_address(engine: Engine, session: Session, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "postal.csv", [
        ["prenom", "nom", "adresse", "code postal", "ville"],
        ["Anne", "Martin", "12 rue des Lilas", "69003", "Lyon"],
        ["Anne", "MARTIN", "12, rue des lilas", "69003", "Lyon"],
    ])
    assert (import_contacts(engine, path).created, import_contacts(engine, path).created) == (1, 0)
    write_csv(path, [["prenom", "nom", "adresse", "code postal"], ["anne", "martin", "12 RUE DES LILAS", "69003"]])
    assert import_contacts(engine, path).created == 0  # another file, another spelling: same person
    assert session.scalar(select(func.count()).select_from(Contact)) == 1


def test_large_files_are_parsed_in_worker_processes(engine: Engine, session: Session, tmp_path: Path) -> None:
    rows = [["email", "phone", "first_name"]]
    rows += [[f"user{index}@exemple.fr", f"06 12 34 {index // 100:02d} {index % 100:02d}", f"U{index}"]
             for index in range(1200)]
    rows.append(["user7@exemple.fr", "", "Seven"])  # a duplicate in a later batch: later row wins
    path = write_csv(tmp_path / "big.csv", rows)
    summary = import_contacts(engine, path, batch_size=250, workers=1)
    assert (summary.rows_read, summary.created, summary.merged) == (1201, 1200, 1)
    assert contacts_by_email(session)["user7@exemple.fr"].first_name == "Seven"


def test_custom_values_are_typed_and_spreadsheet_postcodes_get_their_zero(engine: Engine, session: Session,
                                                                          tmp_path: Path) -> None:
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["Email", "Code postal", "Pays", "Chiffre d'affaires", "Remise", "Client depuis", "Code"])
    sheet.append(["nice@exemple.fr", 6000, "France", 1234.5, "12,5", "05/01/2024", "0042"])
    sheet.append(["bxl@exemple.be", 1000, "Belgique", 3, "1,234", "31/02/2024", "x"])
    workbook.save(tmp_path / "typed.xlsx")
    assert import_contacts(engine, tmp_path / "typed.xlsx").created == 2
    contacts = contacts_by_email(session)
    nice, brussels = contacts["nice@exemple.fr"], contacts["bxl@exemple.be"]
    assert nice.postcode == "06000" and brussels.postcode == "1000"  # Belgian postcodes have four digits
    assert nice.attributes == {"chiffre_d_affaires": 1234.5, "remise": 12.5, "client_depuis": "2024-01-05",
                               "code": "0042"}
    assert brussels.attributes == {"chiffre_d_affaires": 3, "remise": "1,234", "client_depuis": "31/02/2024",
                                   "code": "x"}
    from segments import compile_definition

    query = compile_definition(session, {"conditions": [
        {"field": "attributes.chiffre_d_affaires", "op": "gt", "value": 1000},
        {"field": "attributes.client_depuis", "op": "before", "value": "2024-02-01"}]})
    assert session.scalars(query).all() == [nice.id]


def test_rows_of_erased_people_are_refused_by_any_address(engine: Engine, session: Session, tmp_path: Path) -> None:
    from contacts.gdpr import erase_contact

    gone = make_contact(session, email="gone@exemple.fr", phone="+33612345678", first_name="Ann", last_name="Gone",
                        address_line1="1 rue A", postcode="75001", city="Paris")
    erase_contact(session, gone)
    session.commit()
    path = write_csv(tmp_path / "again.csv", [
        ["email", "phone", "prenom", "nom", "adresse", "code postal"],
        ["GONE@exemple.fr", "", "", "", "", ""],
        ["", "06 12 34 56 78", "", "", "", ""],
        ["", "", "Ann", "Gone", "1 rue A", "75001"],
        ["kept@exemple.fr", "", "", "", "", ""],
    ])
    report = tmp_path / "errors.csv"
    summary = import_contacts(engine, path, report=report)
    assert (summary.rows_read, summary.created, summary.rejected) == (4, 1, 3)
    with report.open(encoding="utf-8-sig") as handle:
        errors = {(int(row["line"]), row["column"]) for row in csv.DictReader(handle)}
    assert errors == {(2, "email"), (3, "phone"), (4, "address")}
    assert set(contacts_by_email(session)) == {None, "kept@exemple.fr"}


def test_merged_away_emails_and_ids_stay_with_the_survivor(engine: Engine, session: Session, tmp_path: Path) -> None:
    from contacts.merge import merge_contacts

    path = write_csv(tmp_path / "crm.csv", [
        ["email", "external_id", "first_name", "last_name", "city"],
        ["jean@acme.fr", "CRM-1", "Jean", "Dupont", "Paris"],
        ["jdupont@gmail.com", "CRM-2", "Jean", "Dupond", ""],
    ])
    assert import_contacts(engine, path).created == 2
    people = contacts_by_email(session)
    survivor, duplicate = people["jean@acme.fr"], people["jdupont@gmail.com"]
    merge_contacts(session, survivor.id, duplicate.id)
    session.commit()
    again = import_contacts(engine, path)  # the old export still has the merged-away row
    assert (again.created, again.rejected) == (0, 0)
    write_csv(path, [["email", "external_id", "job_title"], ["JDUPONT@gmail.com", "", "CTO"], ["", "CRM-2", ""]])
    assert import_contacts(engine, path).updated == 1
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Contact)) == 1
    merged = session.get(Contact, survivor.id)
    assert merged is not None
    assert (merged.email, merged.external_id, merged.job_title) == ("jean@acme.fr", "CRM-1", "CTO")
    assert merged.attributes == {"other_emails": ["jdupont@gmail.com"], "other_external_ids": ["CRM-2"]}


def test_unreadable_files_are_refused_with_a_reason(engine: Engine, tmp_path: Path) -> None:
    from contacts.imports.readers import UnreadableFile

    (tmp_path / "broken.xlsx").write_bytes(b"PK\x03\x04 not really a workbook")
    (tmp_path / "empty.csv").write_text("", encoding="utf-8")
    (tmp_path / "old.xls").write_bytes(b"\xd0\xcf\x11\xe0")
    for name, reason in (("broken.xlsx", "not a readable XLSX workbook"), ("empty.csv", "is empty"),
                         ("old.xls", "save the sheet as .xlsx or CSV"), ("missing.csv", "does not exist")):
        with pytest.raises(UnreadableFile, match=reason):
            import_contacts(engine, tmp_path / name)
