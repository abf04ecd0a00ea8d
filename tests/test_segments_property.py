"""Property test: the compiled SQL selects exactly what a plain Python reading of the definition selects."""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from contacts.timeline import NewEvent, record_events
from core import clock
from core.db import session_factory
from core.models import Account, Consent, Contact, ContactTag, Suppression, Tag
from core.signing import hash_address
from segments import compile_definition, parse_definition
from tests.conftest import _empty_all_tables

NOW = datetime(2026, 2, 25, 23, 30, tzinfo=UTC)  # late evening: some timezones are already on the 26th
ZONES = [None, "Europe/Paris", "Pacific/Kiritimati", "America/Los_Angeles"]
EVENT_TYPES = ["email.opened", "email.clicked", "form.submitted"]
WORDS = ["Paris", "paris-sud", "Lyon", "SOFT", "software", "retail", "", "50%_off"]

# --- random worlds --------------------------------------------------------------------------------------

contact_st = st.fixed_dictionaries({
    "country": st.sampled_from(["FR", "DE", None]),
    "city": st.sampled_from(WORDS + [None]),
    "lifecycle_stage": st.sampled_from(["subscriber", "lead", "customer"]),
    "score": st.integers(0, 100),
    "grade": st.sampled_from(["A", "B", None]),
    "timezone": st.sampled_from(ZONES),
    "created_days": st.floats(0, 400),
    "birth_date": st.one_of(st.none(), st.dates(date(1960, 1, 1), date(2005, 12, 31))),
    "industry": st.sampled_from(WORDS + [None, 7]),
    "n": st.one_of(st.none(), st.integers(-5, 5), st.floats(-5, 5, allow_nan=False), st.just("3")),
    "vip": st.sampled_from([True, False, None, "true"]),
    "has_email": st.booleans(),
    "email_status": st.sampled_from(["valid", "invalid", "unknown"]),
    "phone": st.sampled_from([None, "+33600000001", "  "]),
    "address": st.booleans(),
    "consents": st.lists(st.tuples(st.sampled_from(["email", "sms", "mail"]),
                                   st.sampled_from(["granted", "withdrawn", "pending"])), max_size=3),
    "suppressed": st.booleans(),
    "tags": st.lists(st.sampled_from(["vip", "competitor"]), unique=True, max_size=2),
    "account": st.sampled_from([None, "software", "retail"]),
    "events": st.lists(st.tuples(st.sampled_from(EVENT_TYPES), st.floats(0, 90), st.sampled_from(["a", "b", None])),
                       max_size=4),
})

COMPARISONS = [{"gte": 1}, {"eq": 0}, {"gte": 2}, {"lt": 2}, {"gt": 0, "lte": 2}]
DATES = ["2025-06-01", "2025-10-01", "2026-02-25"]
# Every other operator of the language: lists, text prefixes/suffixes, ranges, absolute dates, event date windows
# and property filters, account numbers.
MORE_LEAVES = [
    st.builds(lambda op, v: {"field": "city", "op": op, "value": v}, st.sampled_from(["in", "not_in"]),
              st.sampled_from([["Paris", "Lyon"], ["paris-sud"]])),
    st.builds(lambda op, v: {"field": "attributes.industry", "op": op, "value": v},
              st.sampled_from(["in", "not_in"]), st.sampled_from([["software", "retail"], ["SOFT"]])),
    st.builds(lambda op, v: {"field": "attributes.industry", "op": op, "value": v},
              st.sampled_from(["starts_with", "ends_with"]), st.sampled_from(["soft", "ware", "50%", "_off"])),
    st.builds(lambda op, v: {"field": "attributes.n", "op": op, "value": v},
              st.sampled_from(["gte", "lt"]), st.sampled_from([0, 2.5, -1])),
    st.builds(lambda v: {"field": "attributes.n", "op": "between", "value": v}, st.sampled_from([[-1, 2.5], [3, 5]])),
    st.builds(lambda op, v: {"field": "created_at", "op": op, "value": v},
              st.sampled_from(["eq", "gt", "gte", "lt", "lte"]), st.sampled_from(DATES)),
    st.builds(lambda v: {"field": "created_at", "op": "between", "value": v},
              st.sampled_from([["2025-06-01", "2025-10-01"], ["2025-10-01", "2026-02-25"]])),
    st.builds(lambda op, v: {"field": "birth_date", "op": op, "value": v},
              st.sampled_from(["before", "after", "eq"]), st.sampled_from(["1970-01-01", "1990-06-15"])),
    st.builds(lambda v: {"field": "birth_date", "op": "between", "value": v},
              st.sampled_from([["1970-01-01", "1990-06-15"]])),
    st.builds(lambda event, after, before, count: {k: v for k, v in {
        "event": event, "after": after, "before": before, "count": count}.items() if v},
        st.sampled_from(EVENT_TYPES), st.sampled_from([None, "2026-01-15"]), st.sampled_from([None, "2026-02-10"]),
        st.sampled_from(COMPARISONS)),
    st.builds(lambda event, match: {"event": event, "where": {"form": match}},
              st.sampled_from(EVENT_TYPES), st.sampled_from([{"ne": "a"}, {"contains": "A"}, ["a", "b"]])),
    st.builds(lambda op, v: {"field": "account.size", "op": op, "value": v},
              st.sampled_from(["gte", "lt", "ne"]), st.sampled_from([10, 50])),
    st.just({"score": {"gt": 20, "lte": 60}}),
]
leaf_st = st.one_of(
    st.builds(lambda op, v: {"field": "country", "op": op, "value": v},
              st.sampled_from(["eq", "ne"]), st.sampled_from(["FR", "DE"])),
    st.builds(lambda op: {"field": "country", "op": op, "value": ["FR", "IT"]}, st.sampled_from(["in", "not_in"])),
    st.builds(lambda op: {"field": "country", "op": op}, st.sampled_from(["is_set", "is_not_set"])),
    st.builds(lambda op, v: {"field": "city", "op": op, "value": v},
              st.sampled_from(["eq", "contains", "starts_with", "ends_with"]),
              st.sampled_from(["par", "Paris", "%_", "e"])),
    st.builds(lambda op, v: {"field": "score", "op": op, "value": v},
              st.sampled_from(["eq", "ne", "gt", "gte", "lt", "lte"]), st.integers(0, 100)),
    st.just({"field": "score", "op": "between", "value": [20, 60]}),
    st.builds(lambda op, v: {"field": "created_at", "op": op, "value": v},
              st.sampled_from(["within", "older_than"]), st.sampled_from(["30d", "2w", "6m", "1y", "36h"])),
    st.builds(lambda op: {"field": "created_at", "op": op, "value": "2025-10-01"},
              st.sampled_from(["before", "after"])),
    st.builds(lambda v: {"field": "birth_date", "op": "anniversary_within", "value": v},
              st.sampled_from(["0d", "7d", "1m"])),
    st.builds(lambda op, v: {"field": "attributes.industry", "op": op, "value": v},
              st.sampled_from(["eq", "ne", "contains"]), st.sampled_from(["software", "SOFT", "retail"])),
    st.builds(lambda op: {"field": "attributes.industry", "op": op}, st.sampled_from(["is_set", "is_not_set"])),
    st.builds(lambda op, v: {"field": "attributes.n", "op": op, "value": v},
              st.sampled_from(["eq", "ne", "gt", "lte"]), st.sampled_from([0, 3, 2.5, -1])),
    st.builds(lambda v: {"field": "attributes.vip", "op": "eq", "value": v}, st.booleans()),
    st.builds(lambda op: {"field": "account.industry", "op": op, "value": "software"}, st.sampled_from(["eq", "ne"])),
    st.builds(lambda v: {"lifecycle_stage": v}, st.sampled_from(["lead", ["lead", "customer"]])),
    st.builds(lambda v: {"grade": v}, st.sampled_from(["A", ["A", "B"]])),
    st.builds(lambda v: {"score": v}, st.sampled_from([{"gte": 50}, {"lt": 10}])),
    st.builds(lambda v: {"tag": v}, st.sampled_from(["vip", ["vip", "competitor"]])),
    st.builds(lambda v: {"reachable": v}, st.sampled_from(["email", "sms", "mail"])),
    st.builds(lambda event, within, count, form: {k: v for k, v in {
        "event": event, "within": within, "count": count, "where": {"form": form} if form else None}.items() if v},
        st.sampled_from(EVENT_TYPES), st.sampled_from([None, "30d", "7d"]), st.sampled_from(COMPARISONS),
        st.sampled_from([None, "a"])),
    *MORE_LEAVES,
)
node_st = st.recursive(leaf_st, lambda inner: st.one_of(
    st.builds(lambda xs: {"all": xs}, st.lists(inner, max_size=3)),
    st.builds(lambda xs: {"any": xs}, st.lists(inner, max_size=3)),
    st.builds(lambda x: {"not": x}, inner),
), max_leaves=6)
definition_st = st.builds(lambda match, conditions: {"match": match, "conditions": conditions},
                          st.sampled_from(["all", "any"]), st.lists(node_st, min_size=1, max_size=3))


def _build(session: Session, contacts: list[dict[str, Any]]) -> list[tuple[int, dict[str, Any]]]:
    accounts = {name: Account(name=name, name_key=name, industry=name, size=size)
                for name, size in (("software", 120), ("retail", 10))}
    tags = {name: Tag(name=name) for name in ("vip", "competitor")}
    session.add_all([*accounts.values(), *tags.values()])
    session.flush()
    built = []
    for index, spec in enumerate(contacts):
        attributes = {key: spec[key] for key in ("industry", "n", "vip") if spec[key] is not None}
        contact = Contact(
            email=f"c{index}@example.com" if spec["has_email"] else None, country=spec["country"], city=spec["city"],
            lifecycle_stage=spec["lifecycle_stage"], score=spec["score"], grade=spec["grade"],
            timezone=spec["timezone"], created_at=NOW - timedelta(days=spec["created_days"]),
            birth_date=spec["birth_date"], attributes=attributes, email_status=spec["email_status"],
            phone=spec["phone"], address_line1="1 rue X" if spec["address"] else None,
            postcode="75001" if spec["address"] else None,
            account_id=accounts[spec["account"]].id if spec["account"] else None,
        )
        session.add(contact)
        session.flush()
        for channel, status in dict(spec["consents"]).items():
            session.add(Consent(contact_id=contact.id, channel=channel, topic="marketing", status=status))
        if spec["suppressed"] and contact.email:
            session.add(Suppression(channel="email", address_hash=hash_address("email", contact.email), reason="x"))
        session.add_all(ContactTag(contact_id=contact.id, tag_id=tags[name].id) for name in spec["tags"])
        record_events(session, [
            NewEvent(kind, f"{contact.id}:{number}", contact.id, NOW - timedelta(days=days),
                     properties={"form": form} if form else {})
            for number, (kind, days, form) in enumerate(spec["events"])
        ])
        built.append((contact.id, spec))
    session.flush()
    return built


# --- the plain Python reading -----------------------------------------------------------------------------


def _shift(moment: Any, duration: str) -> Any:
    amount, unit = int(duration[:-1]), duration[-1]
    if unit in "hdw":
        hours = amount if unit == "h" else amount * 24 * (7 if unit == "w" else 1)
        return moment - timedelta(hours=hours)
    months = amount * (12 if unit == "y" else 1)
    index = moment.month - 1 - months
    year, month = moment.year + index // 12, index % 12 + 1
    return moment.replace(year=year, month=month, day=min(moment.day, calendar.monthrange(year, month)[1]))


def _anniversary(spec: dict[str, Any], duration: str) -> bool:
    born = spec["birth_date"]
    if born is None:
        return False
    zone = spec["timezone"] or "Europe/Paris"
    today = NOW.astimezone(ZoneInfo(zone)).date()
    amount, unit = int(duration[:-1]), duration[-1]
    end = today + timedelta(days=amount) if unit == "d" else _shift(today, f"{-amount}{unit}")
    day = today
    while day <= end:
        if (day.month, day.day) == (born.month, born.day):
            return True
        if (born.month, born.day) == (2, 29) and (day.month, day.day) == (2, 28) and not calendar.isleap(day.year):
            return True
        day += timedelta(days=1)
    return False


def _attribute(spec: dict[str, Any], key: str, op: str, value: Any) -> bool:
    raw = spec[key]
    if op in ("is_set", "is_not_set"):
        present = raw is not None and raw != ""
        return present == (op == "is_set")
    if op in ("ne", "not_in"):
        return not _attribute(spec, key, "eq" if op == "ne" else "in", value)
    if op == "in":
        return isinstance(raw, str) and raw in value
    if op == "between":
        return isinstance(raw, int | float) and not isinstance(raw, bool) and value[0] <= raw <= value[1]
    if isinstance(value, bool):
        return isinstance(raw, bool) and raw == value
    if isinstance(value, int | float):
        if not isinstance(raw, int | float) or isinstance(raw, bool):
            return False
        return _number(raw, op, value)
    if not isinstance(raw, str):
        return False
    return _text(raw, op, value)


def _text(raw: str | None, op: str, value: Any) -> bool:
    if raw is None:
        return False
    if op == "eq":
        return raw == value
    if op == "in":
        return raw in value
    lowered, wanted = raw.lower(), value.lower()
    return {"contains": wanted in lowered, "starts_with": lowered.startswith(wanted),
            "ends_with": lowered.endswith(wanted)}[op]


def _number(raw: Any, op: str, value: Any) -> bool:
    checks = {"eq": lambda: raw == value, "gt": lambda: raw > value, "gte": lambda: raw >= value,
              "lt": lambda: raw < value, "lte": lambda: raw <= value, "between": lambda: value[0] <= raw <= value[1]}
    return raw is not None and checks[op]()


def _field(spec: dict[str, Any], node: dict[str, Any]) -> bool:
    field, op, value = node["field"], node["op"], node.get("value")
    negations = {"ne": "eq", "not_in": "in", "is_not_set": "is_set"}
    if op in negations and not field.startswith("attributes."):
        return not _field(spec, {**node, "op": negations[op]})
    if field.startswith("attributes."):
        return _attribute(spec, field.split(".", 1)[1], op, value)
    if field.startswith("account."):
        return _account(spec["account"], field, op, value)
    if field == "country":
        return spec["country"] is not None if op == "is_set" else (
            spec["country"] == value if op == "eq" else spec["country"] in value)
    if field == "city":
        return _text(spec["city"], op, value)
    if field == "score":
        return _number(spec["score"], op, value)
    if field == "birth_date":
        return _anniversary(spec, value) if op == "anniversary_within" else _birth_date(spec["birth_date"], op, value)
    return _created(NOW - timedelta(days=spec["created_days"]), op, value)


def _account(account: str | None, field: str, op: str, value: Any) -> bool:
    if field == "account.industry":
        return account == value
    return account is not None and _number({"software": 120, "retail": 10}[account], op, value)


def _created(created: datetime, op: str, value: Any) -> bool:
    if op == "within":
        return _shift(NOW, value) <= created <= NOW
    if op == "older_than":
        return created < _shift(NOW, value)
    return _moment(created, op, value)


def _midnight(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def _moment(created: datetime, op: str, value: Any) -> bool:
    """Absolute dates on a datetime column: a bare date means its midnight (UTC), `eq` and `after` whole days."""
    if op == "between":
        return _midnight(value[0]) <= created <= _midnight(value[1])
    boundary = _midnight(value)
    if op == "eq":
        return boundary <= created < boundary + timedelta(days=1)
    if op == "after":
        return created >= boundary + timedelta(days=1)
    if op == "before":
        return created < boundary
    return _number(created, op, boundary)


def _birth_date(born: date | None, op: str, value: Any) -> bool:
    if born is None:
        return False
    if op == "between":
        return date.fromisoformat(value[0]) <= born <= date.fromisoformat(value[1])
    day = date.fromisoformat(value)
    return {"before": born < day, "after": born > day, "eq": born == day}[op]


def _count_ok(count: dict[str, int], number: int) -> bool:
    checks = {"eq": number.__eq__, "gte": number.__ge__, "gt": number.__gt__, "lt": number.__lt__,
              "lte": number.__le__}
    return all(checks[op](bound) for op, bound in count.items())


def _form_matches(match: Any, form: str | None) -> bool:
    """The `where: {form: ...}` filter: a value (eq), a list (in) or {op: value}."""
    if match is None:
        return True
    if isinstance(match, list):
        return form in match
    if isinstance(match, dict):
        ((op, value),) = match.items()
        if op == "ne":
            return form != value
        return form is not None and value.lower() in form.lower()
    return form == match


def _event(spec: dict[str, Any], node: dict[str, Any]) -> bool:
    within, after, before = node.get("within"), node.get("after"), node.get("before")
    matching = [
        1 for kind, days, event_form in spec["events"]
        if kind == node["event"] and (within is None or NOW - timedelta(days=days) >= _shift(NOW, within))
        and (after is None or NOW - timedelta(days=days) >= _midnight(after) + timedelta(days=1))
        and (before is None or NOW - timedelta(days=days) < _midnight(before))
        and _form_matches(node.get("where", {}).get("form"), event_form)
    ]
    return _count_ok(node.get("count", {"gte": 1}), len(matching))


def _reachable(spec: dict[str, Any], channel: str, index: int) -> bool:
    consents = dict(spec["consents"])
    if channel == "email":
        return (spec["has_email"] and spec["email_status"] != "invalid" and consents.get("email") == "granted"
                and not spec["suppressed"])
    if channel == "sms":
        return bool(spec["phone"] and spec["phone"].strip()) and consents.get("sms") == "granted"
    return bool(spec["address"] and spec["city"] and spec["city"].strip()) and consents.get("mail") != "withdrawn"


def holds(spec: dict[str, Any], node: dict[str, Any]) -> bool:
    """The plain reading of one node for one generated contact."""
    if "all" in node:
        return all(holds(spec, child) for child in node["all"])
    if "any" in node:
        return any(holds(spec, child) for child in node["any"])
    if "not" in node:
        return not holds(spec, node["not"])
    if "field" in node:
        return _field(spec, node)
    if "event" in node:
        return _event(spec, node)
    if "tag" in node:
        names = node["tag"] if isinstance(node["tag"], list) else [node["tag"]]
        return bool(set(names) & set(spec["tags"]))
    if "lifecycle_stage" in node or "grade" in node:
        key = "lifecycle_stage" if "lifecycle_stage" in node else "grade"
        names = node[key] if isinstance(node[key], list) else [node[key]]
        return spec[key] in names
    if "score" in node:
        return _count_ok(node["score"], spec["score"])
    return _reachable(spec, node["reachable"], 0)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(contacts=st.lists(contact_st, min_size=3, max_size=8), definitions=st.lists(definition_st, min_size=4,
                                                                                     max_size=4))
def test_compiled_sql_matches_python_reading(engine: Engine, contacts: list[dict[str, Any]],
                                             definitions: list[dict[str, Any]]) -> None:
    _empty_all_tables(engine)
    clock.freeze(NOW)
    try:
        with session_factory(engine)() as session:
            built = _build(session, contacts)
            for definition in definitions:
                expected = {contact_id for contact_id, spec in built
                            if (all if definition["match"] == "all" else any)(
                                holds(spec, node) for node in definition["conditions"])}
                found = set(session.scalars(compile_definition(session, parse_definition(definition))))
                assert found == expected, definition
            session.rollback()
    finally:
        clock.reset()
