"""Model-based segments: RFM quintiles and KMeans clusters written as attributes usable in any segment."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy.orm import Session

from contacts.timeline import NewEvent, record_events
from core import clock
from core.models import Contact, Conversion
from segments import compile_definition
from segments.clustering import cluster_contacts
from segments.rfm import compute_rfm
from tests.helpers import make_contact


def _buy(session: Session, contact: Contact, days_ago: float, amount: str, ref: str) -> None:
    session.add(Conversion(contact_id=contact.id, amount=Decimal(amount), currency="EUR",
                           occurred_at=clock.now() - timedelta(days=days_ago), external_ref=ref))


def test_rfm_scores_quintiles_with_ties_and_names_groups(session: Session) -> None:
    customers = [make_contact(session, email=f"c{index}@example.fr") for index in range(10)]
    prospect = make_contact(session, email="prospect@example.fr", attributes={"industry": "retail"})
    for index, contact in enumerate(customers):  # contact 9: most recent, most frequent, biggest spender
        for order in range(index // 2 + 1):
            _buy(session, contact, days_ago=300 - index * 30 + order, amount=str(10 * (index + 1)),
                 ref=f"o-{index}-{order}")
    session.flush()
    groups = compute_rfm(session)
    session.flush()
    assert sum(group.customers for group in groups) == 10
    for contact in customers:
        session.refresh(contact)
    best, worst = customers[9].attributes, customers[0].attributes
    assert (best["rfm_r"], best["rfm_f"], best["rfm_m"], best["rfm_segment"]) == (5, 5, 5, "champions")
    assert (worst["rfm_r"], worst["rfm_f"], worst["rfm_segment"]) == (1, 1, "hibernating")
    assert customers[0].attributes["rfm_f"] == customers[1].attributes["rfm_f"]  # same order count: same score
    session.refresh(prospect)
    assert prospect.attributes == {"industry": "retail"}  # no purchase: untouched
    champions = {"conditions": [{"field": "attributes.rfm_segment", "op": "eq", "value": "champions"}]}
    assert customers[9].id in set(session.scalars(compile_definition(session, champions)))


def test_clustering_separates_engaged_from_silent_and_writes_labels(session: Session) -> None:
    engaged = [make_contact(session, email=f"e{i}@example.fr", attributes={"employees": 500 + i}) for i in range(12)]
    silent = [make_contact(session, email=f"s{i}@example.fr", attributes={"employees": 5 + i}) for i in range(20)]
    now = clock.now()
    record_events(session, [
        NewEvent(kind, f"{contact.id}-{kind}-{n}", contact.id, now - timedelta(days=n))
        for contact in engaged for kind in ("email.opened", "email.clicked") for n in range(8)
    ])
    result = cluster_contacts(session, ["employees"], k=None, seed=7)
    assert result.k >= 2 and result.tried and result.silhouette is not None
    for contact in engaged + silent:
        session.refresh(contact)
    engaged_labels = {contact.attributes["cluster"] for contact in engaged}
    silent_labels = {contact.attributes["cluster"] for contact in silent}
    assert not engaged_labels & silent_labels
    assert silent_labels == {0}  # the largest cluster is 0
    assert result.profiles[0]["size"] == 20 and result.profiles[0]["opens"] == 0
    fixed = cluster_contacts(session, ["employees"], k=2)
    assert fixed.k == 2 and sum(profile["size"] for profile in fixed.profiles) == 32
    with pytest.raises(ValueError, match="no contact has a numeric attributes.missing"):
        cluster_contacts(session, ["missing"], k=2)


def test_rfm_one_time_buyers_are_not_frequent_and_event_history_counts(session: Session) -> None:
    once = [make_contact(session, email=f"once{index}@example.fr") for index in range(8)]
    repeat = make_contact(session, email="repeat@example.fr")
    from_events = make_contact(session, email="old-system@example.fr")
    erased = make_contact(session, email=None, erased_at=clock.now())
    for index, contact in enumerate(once):
        _buy(session, contact, days_ago=10 + index, amount="50", ref=f"once-{index}")
    for order in range(3):
        _buy(session, repeat, days_ago=5 + order, amount="80", ref=f"repeat-{order}")
    _buy(session, erased, days_ago=1, amount="999", ref="erased-1")
    session.flush()
    record_events(session, [NewEvent("conversion", f"old-{n}", from_events.id, clock.now() - timedelta(days=400 + n),
                                     value=Decimal("20")) for n in range(2)])
    groups = compute_rfm(session)
    session.flush()
    assert sum(group.customers for group in groups) == 10  # the erased contact is not scored
    for contact in [*once, repeat, from_events, erased]:
        session.refresh(contact)
    assert {contact.attributes["rfm_f"] for contact in once} == {1}
    assert (repeat.attributes["rfm_f"], repeat.attributes["rfm_m"], repeat.attributes["rfm_segment"]) == \
        (5, 5, "champions")
    old_system = from_events.attributes
    assert (old_system["rfm_r"], old_system["rfm_f"], old_system["rfm_m"]) == (1, 5, 1)
    assert erased.attributes == {}
