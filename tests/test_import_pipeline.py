"""Contact import pipeline: batches prepared in worker processes, the short cut for rows nothing else shares a key
with, defaults that never overwrite a contact, failures of a parsing process (both DBs)."""

from __future__ import annotations

import csv
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, delete, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from contacts.imports.pipeline import import_contacts
from contacts.imports.readers import UnreadableFile
from core import clock
from core.models import Account, Consent, Contact, ContactEventStat, ContactTag, Event, Tag
from tests.helpers import make_contact

HEADER = ["external_id", "email", "phone", "first_name", "last_name", "address", "postcode", "city", "country",
          "company", "stage", "tags", "segment", "email_opt_in", "email_opt_in_date", "sms_opt_in"]


def messy_rows() -> list[list[str]]:
    """Rows that are the same person by email, phone, external id or postal address — in one batch or across
    batches depending on the batch size — with conflicts, bad rows and consents (one statement per person and
    channel: a later row restating a consent replaces its proof within a batch, not across batches)."""
    rows = []
    for index in range(40):
        rows.append([f"CRM-{index}" if index % 5 == 0 else "", f"person{index}@exemple.fr",
                     f"06 12 34 {index // 10:02d} {index % 10:02d}0"[:14], f"Prénom{index % 7}", f"Nom{index}",
                     "", "75002", "Paris", "France", f"Société {index % 6}", "client" if index % 9 == 0 else "",
                     "vip" if index % 4 == 0 else "newsletter", f"s{index % 3}", "oui" if index % 2 else "non",
                     f"{1 + index % 28:02d}/03/2024" if index % 3 else "", "oui" if index % 5 == 1 else ""])
    rows += [
        ["", "PERSON3@exemple.fr", "", "", "", "", "", "Lyon", "", "", "", "salon", "s9", "", "", ""],
        ["CRM-5", "", "", "Cinq", "", "", "", "", "", "", "customer", "", "", "", "", "non"],  # by external id
        ["", "other7@exemple.fr", "06 12 34 00 70", "", "", "", "", "", "", "", "", "", "", "", "", ""],  # phone, other
        ["", "", "06 12 34 00 80", "Huit", "", "", "", "", "", "", "", "extra", "", "", "", ""],  # phone only
        ["CRM-10", "person11@exemple.fr", "", "", "", "", "", "", "", "", "", "", "", "", "", ""],  # conflict
        ["", "", "", "Anne", "Martin", "12 rue des Lilas", "69003", "Lyon", "", "", "", "", "", "", "", ""],
        ["", "", "", "anne", "MARTIN", "12, rue des lilas", "69003", "Lyon", "FR", "", "", "postal", "", "", "",
         "oui"],
        ["", "bad@", "", "", "", "", "", "", "", "", "", "", "", "", "", ""],
        ["", "person20@exemple.fr", "", "", "", "", "", "", "", "Nouvelle", "", "", "s5", "", "", ""],
    ]
    return [HEADER, *rows]


def write_csv(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(rows)
    return path


def state(session: Session) -> dict[str, Any]:
    """Everything an import writes, without ids or timestamps."""
    session.expire_all()
    contacts = {contact.id: contact for contact in session.scalars(select(Contact))}
    key = {contact_id: contact.email or contact.phone or contact.last_name for contact_id, contact in contacts.items()}
    columns = ("external_id", "email", "phone", "first_name", "last_name", "company", "country", "timezone", "city",
               "postcode", "lifecycle_stage", "source", "attributes")
    accounts = dict(session.execute(select(Account.id, Account.name)).tuples().all())
    return {
        "contacts": sorted((*(str(getattr(contact, name)) for name in columns),
                            accounts.get(contact.account_id or 0)) for contact in contacts.values()),
        "tags": sorted((key[contact_id], name) for contact_id, name in
                       session.execute(select(ContactTag.contact_id, Tag.name).join(Tag)).tuples()),
        "consents": sorted((key[row.contact_id], row.channel, row.status, row.source, row.occurred_at.isoformat())
                           for row in session.scalars(select(Consent))),
        "events": sorted((key[row.contact_id or 0], row.properties["channel"], row.properties["status"],
                          row.occurred_at.isoformat()) for row in session.scalars(select(Event))),
        "stats": sorted((key[row.contact_id], row.type, row.count, row.first_at.isoformat(), row.last_at.isoformat())
                        for row in session.scalars(select(ContactEventStat))),
    }


def erase_everything(session: Session) -> None:
    for model in (ContactEventStat, Event, Consent, ContactTag, Contact, Tag, Account):
        session.execute(delete(model))
    session.commit()


def summary_counts(summary: Any) -> tuple[int, ...]:
    return (summary.rows_read, summary.created, summary.updated, summary.unchanged, summary.merged,
            summary.rejected)


def test_batch_boundaries_and_workers_do_not_change_the_result(engine: Engine, session: Session,
                                                                tmp_path: Path) -> None:
    path = write_csv(tmp_path / "messy.csv", messy_rows())
    results = []
    for batch_size, workers in ((10_000, 0), (7, 1), (1, 0), (3, 2)):
        erase_everything(session)
        with clock.frozen_at(datetime(2025, 6, 1, 12, tzinfo=UTC)):  # undated consents take the import's time
            first = import_contacts(engine, path, batch_size=batch_size, workers=workers)
            written = state(session)
            again = import_contacts(engine, path, batch_size=batch_size, workers=workers)
        assert state(session) == written and again.created == 0  # idempotent
        # (rows of one person in two batches are applied in turn: a re-import counts them as updates)
        assert again.updated == 0 or batch_size < len(messy_rows())
        results.append((summary_counts(first), written))
    for result in results[1:]:
        assert result == results[0]
    summary, written = results[0]
    assert summary == (49, 43, 0, 0, 4, 2)  # 4 rows merged; the bad email and the conflicting external id rejected
    assert len(written["events"]) == len(written["consents"]) == sum(row[2] for row in written["stats"]) > 40


def test_a_file_never_overwrites_a_contact_with_its_defaults(engine: Engine, session: Session,
                                                             tmp_path: Path) -> None:
    make_contact(session, email="kept@exemple.fr", lifecycle_stage="customer", timezone="America/Toronto",
                 source="crm", country="CA")
    rows = [["email", "country", "first_name"], ["kept@exemple.fr", "France", "Kept"],
            ["new@exemple.fr", "France", "New"], ["new@exemple.fr", "", "Newer"]]
    for batch_size in (1, 100):
        summary = import_contacts(engine, write_csv(tmp_path / "defaults.csv", rows), batch_size=batch_size)
        assert summary.rejected == 0
        session.expire_all()
        contacts = {contact.email: contact for contact in session.scalars(select(Contact))}
        kept, new = contacts["kept@exemple.fr"], contacts["new@exemple.fr"]
        assert (kept.first_name, kept.country, kept.lifecycle_stage, kept.timezone, kept.source) == \
            ("Kept", "FR", "customer", "America/Toronto", "crm")
        assert (new.first_name, new.lifecycle_stage, new.timezone, new.source) == \
            ("Newer", "subscriber", "Europe/Paris", "import:defaults.csv")
        erase_everything(session)
        make_contact(session, email="kept@exemple.fr", lifecycle_stage="customer", timezone="America/Toronto",
                     source="crm", country="CA")


def test_an_unreadable_row_met_by_a_parsing_process_stops_the_import_with_its_line(
        engine: Engine, session: Session, tmp_path: Path) -> None:
    path = tmp_path / "broken.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        handle.write("email,first_name\n")
        for index in range(10):
            handle.write(f"p{index}@exemple.fr,P{index}\n")
        handle.write('p10@exemple.fr,"' + "x" * (11 * 1024 * 1024) + "\n")  # a quote never closed
    with pytest.raises(UnreadableFile, match="broken.csv, line 12"):
        import_contacts(engine, path, batch_size=2, workers=1)


def test_stats_count_only_the_consent_events_really_written(engine: Engine, session: Session,
                                                            tmp_path: Path) -> None:
    last = make_contact(session, email="before@exemple.fr").id
    moment = "2024-01-15 00:00:00.000000"
    for contact_id in range(last + 1, last + 40):  # stray events holding the keys the next contacts' events take
        session.add(Event(contact_id=None, type="consent.changed", occurred_at=datetime(2024, 1, 15, tzinfo=UTC),
                          properties={}, dedupe_key=f"consent:{contact_id}:email:marketing:granted:{moment}"))
    session.commit()
    path = write_csv(tmp_path / "one.csv", [["email", "email_opt_in", "email_opt_in_date", "sms_opt_in"],
                                            ["new@exemple.fr", "oui", "15/01/2024", "non"]])
    assert import_contacts(engine, path).created == 1
    new = session.scalars(select(Contact).where(Contact.email == "new@exemple.fr")).one()
    assert {consent.channel for consent in session.scalars(select(Consent).where(Consent.contact_id == new.id))} \
        == {"email", "sms"}
    events = session.scalars(select(Event).where(Event.contact_id == new.id)).all()
    assert [event.properties["channel"] for event in events] == ["sms"]  # the email one's key was taken
    stat = session.get(ContactEventStat, (new.id, "consent.changed"))
    assert stat is not None and stat.count == 1


# PostgreSQL only: its foreign-key triggers (SQLite's import turns its checks off by pragma, tested above).
postgres_only = pytest.mark.parametrize("backend", ["postgresql"])


@postgres_only
def test_postgres_import_turns_foreign_key_triggers_off_and_back_on(engine: Engine, session: Session,
                                                                   tmp_path: Path) -> None:
    summary = import_contacts(engine, write_csv(tmp_path / "messy.csv", messy_rows()), batch_size=7)
    assert summary_counts(summary) == (49, 43, 0, 0, 4, 2)
    for _ in range(engine.pool.size() + 1):  # whichever pooled connection the import had, it is back to normal
        with engine.connect() as connection:
            assert connection.exec_driver_sql("SHOW session_replication_role").scalar() == "origin"
            assert connection.exec_driver_sql("SHOW synchronous_commit").scalar() == "on"
    orphans = session.execute(text(
        "SELECT count(*) FROM contact_tags LEFT JOIN contacts ON contacts.id = contact_tags.contact_id "
        "WHERE contacts.id IS NULL")).scalar()
    assert orphans == 0


@postgres_only
def test_a_role_that_may_not_turn_triggers_off_imports_with_them(engine: Engine, session: Session,
                                                                  tmp_path: Path) -> None:
    role = f"relance_importer_{uuid.uuid4().hex[:8]}"
    with engine.connect() as connection:
        connection.exec_driver_sql(f'CREATE ROLE "{role}" LOGIN NOSUPERUSER')
        connection.exec_driver_sql(f'GRANT ALL ON ALL TABLES IN SCHEMA public TO "{role}"')
        connection.exec_driver_sql(f'GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO "{role}"')
        connection.commit()
    limited = create_engine(engine.url.set(username=role))
    try:
        summary = import_contacts(limited, write_csv(tmp_path / "messy.csv", messy_rows()), batch_size=7)
        assert summary_counts(summary) == (49, 43, 0, 0, 4, 2)  # the same import, checked by the triggers
        with limited.connect() as connection:
            assert connection.exec_driver_sql("SHOW session_replication_role").scalar() == "origin"
    finally:
        limited.dispose()
        with engine.connect() as connection:
            connection.exec_driver_sql(f'DROP OWNED BY "{role}"')
            connection.exec_driver_sql(f'DROP ROLE "{role}"')
            connection.commit()


@postgres_only
def test_existing_contacts_a_batch_writes_for_cannot_be_deleted_before_it_commits(
        engine: Engine, session: Session, tmp_path: Path) -> None:
    existing = make_contact(session, email="kept@exemple.fr").id
    session.commit()
    path = write_csv(tmp_path / "tags.csv", [["email", "tags"], ["kept@exemple.fr", "vip"]])
    attempts: list[str] = []

    def delete_meanwhile(_: int) -> None:  # runs while the (dry-run) batch's transaction is still open
        with engine.connect() as other:
            other.exec_driver_sql("SET lock_timeout = '200ms'")
            try:
                other.execute(delete(Contact).where(Contact.id == existing))
            except OperationalError as exc:
                attempts.append(getattr(exc.orig, "sqlstate", ""))
            other.rollback()

    summary = import_contacts(engine, path, dry_run=True, on_progress=delete_meanwhile)
    assert summary.updated == 1 and attempts == ["55P03"]  # lock_not_available: the erasure would have waited
