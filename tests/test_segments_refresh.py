"""Segment storage, refresh (entries/exits in SQL with events and stats), static lists and dependency order."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from contacts.timeline import NewEvent, record_events
from core import clock
from core.models import ContactEventStat, Event, SegmentMembership, SegmentSnapshot
from segments import SegmentDefinitionError
from segments.refresh import refresh_all, refresh_segment
from segments.service import (
    add_members,
    count,
    create_segment,
    delete_segment,
    get_segment,
    keys_from_csv,
    preview,
    remove_members,
)
from tests.helpers import make_contact

FRENCH = {"conditions": [{"field": "country", "op": "eq", "value": "FR"}]}


def _members(session: Session, name: str) -> set[int]:
    segment = get_segment(session, name)
    query = select(SegmentMembership.contact_id).where(SegmentMembership.segment_id == segment.id)
    return set(session.scalars(query))


def _events(session: Session, kind: str) -> list[Event]:
    return list(session.scalars(select(Event).where(Event.type == kind).order_by(Event.contact_id)))


def test_refresh_materialises_entries_and_exits_with_events_and_stats(session: Session) -> None:
    anne = make_contact(session, email="anne@example.fr", country="FR")
    bob = make_contact(session, email="bob@example.de", country="DE")
    create_segment(session, "french", FRENCH)
    first = refresh_segment(session, "french")
    assert (first.entered, first.exited, first.size) == (1, 0, 1)
    assert _members(session, "french") == {anne.id}

    anne.country, bob.country = "DE", "FR"
    session.flush()
    clock.travel(timedelta(minutes=5))
    second = refresh_segment(session, "french")
    assert (second.entered, second.exited, second.size) == (1, 1, 1)
    assert _members(session, "french") == {bob.id}
    entered = _events(session, "segment.entered")
    exited = _events(session, "segment.exited")
    assert [event.contact_id for event in entered] == [anne.id, bob.id]
    assert [event.contact_id for event in exited] == [anne.id]
    segment = get_segment(session, "french")
    assert exited[0].properties == {"segment_id": segment.id, "segment": "french"}
    assert exited[0].dedupe_key.startswith(f"segment:{segment.id}:{anne.id}:exited:")
    stats = session.get(ContactEventStat, (anne.id, "segment.entered"))
    assert stats is not None and stats.count == 1
    assert session.get(ContactEventStat, (anne.id, "segment.exited")).count == 1  # type: ignore[union-attr]

    third = refresh_segment(session, "french")  # nothing changed: nothing written
    assert (third.entered, third.exited, third.size) == (0, 0, 1)
    assert len(_events(session, "segment.entered")) == 2
    snapshots = session.scalars(select(SegmentSnapshot.size).order_by(SegmentSnapshot.id)).all()
    assert snapshots == [1, 1, 1]
    assert segment.size == 1 and segment.refreshed_at is not None


def test_refresh_all_follows_dependencies_and_refuses_cycles(session: Session) -> None:
    anne = make_contact(session, email="anne@example.fr", country="FR", score=80)
    make_contact(session, email="carl@example.fr", country="FR", score=10)
    create_segment(session, "french", FRENCH)
    create_segment(session, "hot-french", {"conditions": [{"segment": "french"}, {"score": {"gte": 50}}]})
    results = refresh_all(session)
    assert [result.segment for result in results] == ["french", "hot-french"]
    assert _members(session, "hot-french") == {anne.id}

    with pytest.raises(SegmentDefinitionError, match=r"conditions\[0\]\.any\[0\]\.segment: .*cycle"):
        create_segment(session, "french", {"conditions": [{"any": [{"segment": "hot-french"}]}]}, replace=True)
    with pytest.raises(ValueError, match="'french' is used by hot-french"):
        delete_segment(session, "french")
    with pytest.raises(SegmentDefinitionError, match=r"conditions\[0\]\.segment: no segment named 'nope'"):
        create_segment(session, "broken", {"conditions": [{"segment": "nope"}]})


def test_count_and_preview_work_on_unsaved_definitions(session: Session) -> None:
    for index in range(5):
        make_contact(session, email=f"p{index}@example.fr", country="FR" if index % 2 == 0 else "IT")
    assert count(session, FRENCH) == 3
    rows = preview(session, FRENCH, limit=2)
    assert [row["email"] for row in rows] == ["p0@example.fr", "p2@example.fr"]


def test_static_segments_are_filled_by_hand_and_from_csv(session: Session, tmp_path: Path) -> None:
    anne = make_contact(session, email="anne@example.fr")
    bob = make_contact(session, email="bob@example.fr")
    carl = make_contact(session, email="carl@example.fr")
    create_segment(session, "vip", kind="static")
    assert add_members(session, "vip", ["ANNE@example.fr ", bob.id, "nobody@example.fr"]) == 2
    assert add_members(session, "vip", ["anne@example.fr"]) == 0  # already a member
    csv_file = tmp_path / "list.csv"
    csv_file.write_text("Name,Email\nCarl,carl@example.fr\n", encoding="utf-8")
    assert add_members(session, "vip", keys_from_csv(csv_file)) == 1
    assert _members(session, "vip") == {anne.id, bob.id, carl.id}
    assert remove_members(session, "vip", [bob.id]) == 1
    assert _members(session, "vip") == {anne.id, carl.id}
    assert get_segment(session, "vip").size == 2
    assert len(_events(session, "segment.entered")) == 3 and len(_events(session, "segment.exited")) == 1
    result = refresh_segment(session, "vip")  # static: only recounted
    assert (result.entered, result.exited, result.size) == (0, 0, 2)
    with pytest.raises(ValueError, match="dynamic"):
        create_segment(session, "fr", FRENCH)
        add_members(session, "fr", [anne.id])


def test_refresh_keeps_stats_consistent_with_events(session: Session) -> None:
    contact = make_contact(session, email="dora@example.fr", country="FR")
    record_events(session, [NewEvent("email.opened", "open-1", contact.id, clock.now())])
    create_segment(session, "french", FRENCH)
    for _ in range(3):
        refresh_segment(session, "french")
        contact.country = "DE" if contact.country == "FR" else "FR"
        session.flush()
        clock.travel(timedelta(seconds=1))
    per_type = dict(session.execute(select(Event.type, func.count()).group_by(Event.type)).all())
    stats = dict(session.execute(select(ContactEventStat.type, ContactEventStat.count)).all())
    assert stats == per_type
