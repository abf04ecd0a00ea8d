"""The segment language: parsing, path-named errors, and compiled semantics on both databases."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from contacts.consent import Proof, set_consent, suppress
from contacts.timeline import NewEvent, record_events
from core import clock
from core.models import Account, Contact
from segments import SegmentDefinitionError, compile_condition, compile_definition, load_definition, parse_definition
from segments.explain import explain
from segments.service import create_segment
from tests.helpers import make_contact


def _ids(session: Session, *conditions: dict[str, object], match: str = "all") -> set[int]:
    return set(session.scalars(compile_definition(session, {"match": match, "conditions": list(conditions)})))


@pytest.mark.parametrize(
    ("definition", "message"),
    [
        ({"conditions": [{"field": "country", "op": "eq", "value": "FR"},
                         {"any": [{"field": "country", "op": "gt", "value": "A"}]}]},
         r"conditions\[1\]\.any\[0\]\.op: gt does not apply to string field country"),
        ({"conditions": [{"not": {"field": "password", "op": "eq", "value": "x"}}]},
         r"conditions\[0\]\.not\.field: unknown field 'password'"),
        ({"conditions": [{"event": "email.clicked", "count": {"gte": 1}, "sql": "DROP TABLE"}]},
         r"conditions\[0\]\.sql: unknown key"),
        ({"conditions": [{"all": [{"frobnicate": 1}]}]}, r"conditions\[0\]\.all\[0\]: not a condition"),
        ({"conditions": [{"field": "created_at", "op": "within", "value": "thirty days"}]},
         r"conditions\[0\]\.value: expected a duration like 30d"),
        ({"conditions": [{"field": "score", "op": "between", "value": [50, 10]}]},
         r"conditions\[0\]\.value: between needs \[low, high\]"),
        ({"conditions": [{"field": "attributes.bad key", "op": "is_set"}]}, r"conditions\[0\]\.field: attribute name"),
        ({"conditions": [{"reachable": "fax"}]}, r"conditions\[0\]\.reachable: Input should be 'email', 'sms' or"),
        ({"match": "some", "conditions": []}, r"match: Input should be 'all' or 'any'"),
        ({"conditions": [{"event": "email.clicked", "where": {"url": {"matches": ".*"}}}]},
         r"conditions\[0\]\.where\.url\.op"),
    ],
)
def test_bad_definitions_name_the_path_and_the_reason(definition: dict[str, object], message: str) -> None:
    with pytest.raises(SegmentDefinitionError, match=message):
        parse_definition(definition)


def test_yaml_round_trip_and_file_name_as_default_name(tmp_path: Path) -> None:
    file = tmp_path / "engaged.yaml"
    file.write_text(
        "match: any\nconditions:\n  - {field: created_at, op: before, value: 2026-01-01}\n"
        "  - {event: form.submitted, where: {form: demo-request}, within: 30d}\n  - {not: {tag: competitor}}\n",
        encoding="utf-8",
    )
    definition = load_definition(file)
    assert definition.name == "engaged" and definition.match == "any"
    assert parse_definition(definition.to_json()) == definition
    (tmp_path / "broken.yaml").write_text("conditions: [\n", encoding="utf-8")
    with pytest.raises(SegmentDefinitionError, match="not valid YAML"):
        load_definition(tmp_path / "broken.yaml")


def test_values_are_bound_parameters_never_sql(session: Session) -> None:
    make_contact(session, email="a@example.fr", country="FR")
    nasty = "FR' OR '1'='1"
    statement = compile_definition(session, {"conditions": [{"field": "country", "op": "eq", "value": nasty}]})
    assert nasty not in str(statement.compile(session.get_bind()))
    assert session.scalars(statement).all() == []


def test_attributes_are_typed_by_the_value_asked_for(session: Session) -> None:
    number = make_contact(session, email="n@example.fr", attributes={"employees": 250, "plan": "Pro"})
    text = make_contact(session, email="t@example.fr", attributes={"employees": "250", "plan": 3})
    make_contact(session, email="e@example.fr", attributes={})
    assert _ids(session, {"field": "attributes.employees", "op": "gte", "value": 100}) == {number.id}
    assert _ids(session, {"field": "attributes.employees", "op": "eq", "value": "250"}) == {text.id}
    assert _ids(session, {"field": "attributes.plan", "op": "contains", "value": "pro"}) == {number.id}
    assert _ids(session, {"field": "attributes.plan", "op": "is_set"}) == {number.id, text.id}
    assert len(_ids(session, {"field": "attributes.plan", "op": "ne", "value": "Pro"})) == 2


def test_dates_relative_absolute_and_anniversaries_in_the_contacts_timezone(session: Session) -> None:
    clock.freeze(datetime(2026, 3, 10, 23, 30, tzinfo=UTC))  # already 11 March in Paris and Auckland
    recent = make_contact(session, email="r@example.fr", created_at=clock.now() - timedelta(days=3))
    old = make_contact(session, email="o@example.fr", created_at=clock.now() - timedelta(days=400))
    paris = make_contact(session, email="p@example.fr", birth_date=date(1990, 3, 11), timezone="Europe/Paris")
    new_york = make_contact(session, email="ny@example.fr", birth_date=date(1990, 3, 11), timezone="America/New_York")
    leap = make_contact(session, email="l@example.fr", birth_date=date(1992, 2, 29), timezone="Europe/Paris")
    within = {"field": "created_at", "op": "within", "value": "30d"}
    assert recent.id in _ids(session, within) and old.id not in _ids(session, within)
    assert _ids(session, {"field": "created_at", "op": "older_than", "value": "1y"}) == {old.id}
    assert _ids(session, {"field": "created_at", "op": "before", "value": "2025-06-01"}) == {old.id}
    today = {"field": "birth_date", "op": "anniversary_within", "value": "0d"}
    assert _ids(session, today) == {paris.id}  # still 10 March in New York
    assert new_york.id in _ids(session, {"field": "birth_date", "op": "anniversary_within", "value": "1d"})
    clock.freeze(datetime(2027, 2, 27, 12, tzinfo=UTC))
    assert leap.id in _ids(session, {"field": "birth_date", "op": "anniversary_within", "value": "1d"})


def test_reachability_follows_consent_suppression_and_address(session: Session) -> None:
    ok = make_contact(session, email="ok@example.fr", phone="+33600000001", address_line1="1 rue A",
                      postcode="75001", city="Paris")
    blocked = make_contact(session, email="Blocked@example.fr", phone="+33600000002")
    invalid = make_contact(session, email="invalid@example.fr", email_status="invalid")
    for contact in (ok, blocked, invalid):
        set_consent(session, contact.id, "email", "granted", Proof(source="test"))
    set_consent(session, ok.id, "sms", "granted", Proof(source="test"))
    set_consent(session, blocked.id, "sms", "granted", Proof(source="test"))
    suppress(session, "email", " blocked@EXAMPLE.fr", "complaint")
    suppress(session, "sms", "+33600000002", "stop")
    assert _ids(session, {"reachable": "email"}) == {ok.id}
    assert _ids(session, {"reachable": "sms"}) == {ok.id}
    assert _ids(session, {"reachable": "mail"}) == {ok.id}
    set_consent(session, ok.id, "mail", "withdrawn", Proof(source="test"))
    assert _ids(session, {"reachable": "mail"}) == set()


def test_behaviour_account_tags_and_compile_condition(session: Session) -> None:
    account = Account(name="Acme", name_key="acme", industry="software", size=120)
    session.add(account)
    session.flush()
    clicker = make_contact(session, email="c@example.fr", account_id=account.id)
    lurker = make_contact(session, email="l@example.fr")
    now = clock.now()
    record_events(session, [
        NewEvent("email.clicked", "k1", clicker.id, now - timedelta(days=2), properties={"url": "https://x/pricing"}),
        NewEvent("email.clicked", "k2", clicker.id, now - timedelta(days=40), properties={"url": "https://x/blog"}),
        NewEvent("email.opened", "k3", lurker.id, now - timedelta(days=1)),
    ])
    assert _ids(session, {"event": "email.clicked", "within": "30d"}) == {clicker.id}
    assert _ids(session, {"event": "email.clicked", "count": {"gte": 2}}) == {clicker.id}
    assert _ids(session, {"event": "email.clicked", "within": "30d", "count": {"gte": 2}}) == set()
    assert _ids(session, {"event": "email.clicked", "where": {"url": {"contains": "PRICING"}}}) == {clicker.id}
    assert _ids(session, {"event": "email.clicked", "count": {"eq": 0}}) == {lurker.id}
    assert _ids(session, {"field": "account.size", "op": "gte", "value": 100}) == {clicker.id}
    assert _ids(session, {"field": "account.industry", "op": "ne", "value": "software"}) == {lurker.id}
    where = compile_condition(session, {"any": [{"event": "email.opened"}, {"field": "account.industry", "op": "eq",
                                                                             "value": "software"}]})
    assert set(session.scalars(select(Contact.id).where(where))) == {clicker.id, lurker.id}


def test_explain_marks_each_condition_met_or_failed(session: Session) -> None:
    anne = make_contact(session, email="anne@example.fr", country="FR", score=20)
    create_segment(session, "hot-french", {"conditions": [
        {"field": "country", "op": "eq", "value": "FR"},
        {"any": [{"score": {"gte": 50}}, {"not": {"tag": "competitor"}}]},
        {"event": "form.submitted"},
    ]})
    result = explain(session, "hot-french", "ANNE@example.fr")
    assert result.met is False
    country, either, form = result.children
    assert (country.path, country.met) == ("conditions[0]", True)
    assert either.met is True and [child.met for child in either.children] == [False, True]
    assert either.children[1].children[0].path == "conditions[1].any[1].not" and not either.children[1].children[0].met
    assert (form.label, form.met) == ("form.submitted count gte 1", False)
    assert explain(session, "hot-french", anne.id).as_dict()["children"][0]["condition"] == "country eq FR"


def test_future_windows_account_attributes_and_event_dates(session: Session) -> None:
    account = Account(name="Beta", name_key="beta", attributes={"tier": "gold", "seats": 40})
    session.add(account)
    session.flush()
    renewing = make_contact(session, email="r@example.fr", account_id=account.id,
                            attributes={"renewal": (clock.now() + timedelta(days=10)).date().isoformat()})
    later = make_contact(session, email="l@example.fr",
                         attributes={"renewal": (clock.now() + timedelta(days=90)).date().isoformat()})
    assert _ids(session, {"field": "attributes.renewal", "op": "within_next", "value": "30d"}) == {renewing.id}
    assert _ids(session, {"field": "attributes.renewal", "op": "after", "value": "2000-01-01"}) == {renewing.id,
                                                                                                   later.id}
    assert _ids(session, {"field": "account.attributes.tier", "op": "eq", "value": "gold"}) == {renewing.id}
    assert _ids(session, {"field": "account.attributes.seats", "op": "between", "value": [10, 50]}) == {renewing.id}
    record_events(session, [NewEvent("form.submitted", "f1", later.id, datetime(2026, 1, 15, tzinfo=UTC),
                                     properties={"form": "demo-request"})])
    submitted = {"event": "form.submitted", "after": "2026-01-14", "before": "2026-02-01",
                 "where": {"form": ["demo-request", "trial"]}}
    assert _ids(session, submitted) == {later.id}
    assert _ids(session, {**submitted, "after": "2026-01-15"}) == set()  # after a day means from the next day
