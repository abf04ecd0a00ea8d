"""Importing events and conversions from an old system: contact lookup, dedupe keys, idempotency."""

from __future__ import annotations

import csv
import json
from decimal import Decimal
from pathlib import Path

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from contacts.imports.history import import_conversions, import_events
from core.models import ContactEventStat, Conversion, Event
from tests.helpers import make_contact


def test_events_import_from_jsonl_is_idempotent(engine: Engine, session: Session, tmp_path: Path) -> None:
    jean = make_contact(session, email="jean@exemple.fr", phone="+33612345678", external_id="CRM-1")
    lines = [
        {"email": "Jean@Exemple.fr", "type": "email.opened", "occurred_at": "2024-03-01T10:00:00Z", "id": "old-1"},
        {"phone": "06 12 34 56 78", "type": "page.visited", "occurred_at": "02/03/2024 09:15",
         "properties": {"url": "https://exemple.fr/prix"}},
        {"external_id": "CRM-1", "type": "form.submitted", "occurred_at": "2024-03-03", "form": "demo"},
        {"email": "ghost@exemple.fr", "type": "email.opened", "occurred_at": "2024-03-01"},
        {"email": "jean@exemple.fr", "type": "Bad Type", "occurred_at": "2024-03-01"},
        {"email": "jean@exemple.fr", "type": "email.clicked"},
    ]
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\nnot json\n", encoding="utf-8")
    first = import_events(engine, path)
    assert (first.rows_read, first.recorded, first.rejected) == (7, 3, 4)
    assert {error["line"] for error in first.errors} == {4, 5, 6, 7}
    again = import_events(engine, path)
    assert (again.recorded, again.already_present) == (0, 3)
    events = {event.type: event for event in session.scalars(select(Event).where(Event.contact_id == jean.id))}
    assert events["email.opened"].dedupe_key == "old-1"
    assert events["page.visited"].properties == {"url": "https://exemple.fr/prix"}
    assert events["form.submitted"].properties == {"form": "demo"}
    stat = session.get(ContactEventStat, (jean.id, "page.visited"))
    assert stat is not None and stat.count == 1


def test_events_import_from_csv_with_json_properties(engine: Engine, session: Session, tmp_path: Path) -> None:
    make_contact(session, email="a@exemple.fr")
    path = tmp_path / "events.csv"
    path.write_text('email;type;occurred_at;properties\na@exemple.fr;email.clicked;2024-01-05;"{""url"": ""x""}"\n'
                    'a@exemple.fr;email.clicked;2024-01-05;"{""url"": ""x""}"\n', encoding="utf-8")
    summary = import_events(engine, path)
    assert (summary.recorded, summary.already_present) == (1, 1)  # identical rows hash to one dedupe key


def test_conversions_import_is_idempotent_and_writes_events(engine: Engine, session: Session, tmp_path: Path) -> None:
    buyer = make_contact(session, email="buyer@exemple.fr")
    path = tmp_path / "orders.csv"
    path.write_text(
        "email;amount;currency;occurred_at;external_ref\n"
        "buyer@exemple.fr;1 234,50;eur;15/02/2024;INV-1\n"
        "buyer@exemple.fr;99.90;EUR;2024-02-20;INV-2\n"
        "buyer@exemple.fr;abc;EUR;2024-02-20;INV-3\n"
        "nobody@exemple.fr;10;EUR;2024-02-20;INV-4\n"
        "buyer@exemple.fr;10;EUR;2024-02-20;\n", encoding="cp1252")
    first = import_conversions(engine, path)
    assert (first.recorded, first.rejected) == (2, 3)
    again = import_conversions(engine, path)
    assert (again.recorded, again.already_present) == (0, 2)
    amounts = sorted(session.scalars(select(Conversion.amount)).all())
    assert amounts == [Decimal("99.90"), Decimal("1234.50")]
    stat = session.get(ContactEventStat, (buyer.id, "conversion"))
    assert stat is not None and stat.count == 2 and stat.total == Decimal("1334.40")


def test_rejected_history_rows_name_the_column_and_go_to_the_report(engine: Engine, session: Session,
                                                                    tmp_path: Path) -> None:
    make_contact(session, email="buyer@exemple.fr")
    path = tmp_path / "orders.csv"
    path.write_text(
        "email;amount;currency;occurred_at;external_ref\n"
        "buyer@exemple.fr;12;EUR;2024-02-20;INV-1\n"
        "buyer@exemple.fr;douze;EUR;2024-02-20;INV-2\n"
        "buyer@exemple.fr;12;euros;2024-02-20;INV-3\n"
        "buyer@exemple.fr;12;EUR;hier;INV-4\n"
        "buyer@;12;EUR;2024-02-20;INV-5\n", encoding="utf-8")
    report = tmp_path / "rejected.csv"
    summary = import_conversions(engine, path, report=report)
    assert (summary.recorded, summary.rejected, summary.report) == (1, 4, str(report))
    with report.open(encoding="utf-8-sig") as handle:
        rows = [(int(row["line"]), row["column"], row["value"]) for row in csv.DictReader(handle)]
    assert rows == [(3, "amount", "douze"), (4, "currency", "EUROS"), (5, "occurred_at", "hier"),
                    (6, "email", "buyer@")]
    events = tmp_path / "events.jsonl"
    events.write_text('{"email": "buyer@exemple.fr", "type": "Email Opened", "occurred_at": "2024-01-01"}\n'
                      '{"email": "buyer@exemple.fr", "type": "email.opened", "occurred_at": "2024-01-01", '
                      '"properties": "[1]"}\n', encoding="utf-8")
    result = import_events(engine, events, report=report)
    assert [(error["line"], error["column"]) for error in result.errors] == [(1, "type"), (2, "properties")]


def test_events_of_two_systems_numbering_alike_keep_apart_by_source(engine: Engine, session: Session,
                                                                   tmp_path: Path) -> None:
    make_contact(session, email="ann@exemple.fr")
    make_contact(session, email="bob@exemple.fr")
    crm, shop = tmp_path / "crm.jsonl", tmp_path / "shop.jsonl"
    crm.write_text('{"id": 1, "email": "ann@exemple.fr", "type": "email.opened", "occurred_at": "2024-01-01"}\n'
                   '{"id": 2, "email": "ann@exemple.fr", "type": "email.clicked", "occurred_at": "2024-01-02"}\n',
                   encoding="utf-8")
    shop.write_text('{"id": 1, "email": "bob@exemple.fr", "type": "order.paid", "occurred_at": "2024-02-01"}\n'
                    '{"id": 2, "email": "ann@exemple.fr", "type": "email.clicked", "occurred_at": "2024-01-02"}\n',
                    encoding="utf-8")
    assert import_events(engine, crm, source="crm").recorded == 2
    assert import_events(engine, shop, source="shop").recorded == 2
    again = import_events(engine, crm.rename(tmp_path / "crm-export-2.jsonl"), source="crm")  # renamed: same ids
    assert (again.recorded, again.already_present, again.rejected) == (0, 2, 0)
    keys = set(session.scalars(select(Event.dedupe_key)))
    assert keys == {"import:crm:1", "import:crm:2", "import:shop:1", "import:shop:2"}


def test_an_id_taken_by_another_event_is_rejected_not_skipped(engine: Engine, session: Session,
                                                                tmp_path: Path) -> None:
    make_contact(session, email="ann@exemple.fr")
    make_contact(session, email="bob@exemple.fr")
    first, second = tmp_path / "first.csv", tmp_path / "second.csv"
    first.write_text("id,email,type,occurred_at\n1,ann@exemple.fr,email.opened,2024-01-01\n", encoding="utf-8")
    second.write_text("id,email,type,occurred_at\n1,ann@exemple.fr,email.opened,2024-01-01T00:00:00Z\n"
                      "1,bob@exemple.fr,order.paid,2024-02-01\n"  # the other system's event 1
                      "7,bob@exemple.fr,order.paid,2024-02-01\n"
                      "7,bob@exemple.fr,order.refunded,2024-02-03\n", encoding="utf-8")  # 7 twice in this file
    assert import_events(engine, first).recorded == 1
    report = tmp_path / "rejected.csv"
    summary = import_events(engine, second, report=report)
    assert (summary.recorded, summary.already_present, summary.rejected) == (1, 1, 2)
    assert [(error["line"], error["column"], error["value"]) for error in summary.errors] == [(3, "id", "1"),
                                                                                          (5, "id", "7")]
    assert "--source" in summary.errors[0]["reason"]
    assert session.scalar(select(Event.type).where(Event.dedupe_key == "7")) == "order.paid"


def test_import_events_cli_takes_a_source(cli_env: Path, session: Session) -> None:
    from tests.helpers import run_cli, run_cli_json

    make_contact(session, email="ann@exemple.fr")
    (cli_env / "old.csv").write_text("id,email,type,occurred_at\n1,ann@exemple.fr,email.opened,2024-01-01\n",
                                     encoding="utf-8")
    assert run_cli_json("import", "events", "old.csv", "--source", "mautic")["recorded"] == 1
    assert run_cli_json("import", "events", "old.csv", "--source", "mautic")["already_present"] == 1
    assert session.scalars(select(Event.dedupe_key)).one() == "import:mautic:1"
    refused = run_cli("import", "events", "old.csv", "--source", "my crm!")
    assert refused.exit_code != 0 and "invalid source" in refused.output
    assert "--source" in run_cli("import", "events", "--help").output
